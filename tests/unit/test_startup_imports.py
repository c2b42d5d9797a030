"""Creating the app (every web worker, command and the scheduler does) loads no heavy library.

scikit-learn, OR-Tools and SciPy take seconds to import and NumPy a tenth of one; only computing
reviewer assignments, matches and the ranking board needs them, so they are imported inside the
functions that use them. Checked in a fresh
interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("sklearn", "ortools", "scipy", "pandas", "numpy")
PROBE = """
import json, sys
from incubator import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": sys.argv[1]})
app.cli.list_commands(None)  # what `flask --help` does after creating the app
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _modules_after_create_app(instance_path: Path) -> set[str]:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    result = subprocess.run([sys.executable, "-c", PROBE, str(instance_path)], capture_output=True, text=True,
                            env=env, cwd=root, timeout=120, check=True)
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_create_app_imports_no_heavy_library(tmp_path: Path) -> None:
    loaded = _modules_after_create_app(tmp_path)
    assert "incubator" in loaded  # the probe really built the app
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_the_solvers_still_import_their_libraries_when_used() -> None:
    from incubator.domain.affinity import text_similarity

    similarity = text_similarity(["soil sensors for farms"], ["farm soil sensor network", "payroll software"])
    assert similarity[0, 0] > similarity[0, 1]
    assert "sklearn" in sys.modules
