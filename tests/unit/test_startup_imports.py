"""Creating the app (every web worker, command and the scheduler does) loads no heavy library,
and `flask --help` does not even load SQLAlchemy; the app is still whole wherever it is used.

scikit-learn, OR-Tools and SciPy take seconds to import and NumPy a tenth of one; only computing
reviewer assignments, matches and the ranking board needs them, so they are imported inside the
functions that use them. The models, blueprints, SQLAlchemy and Alembic are loaded the first time
the app serves a request or runs a command (incubator/deferred_setup.py). Checked in a fresh
interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from flask import Flask

from incubator import create_app

ROOT = Path(__file__).resolve().parents[2]
SOLVER_LIBRARIES = ("sklearn", "ortools", "scipy", "pandas", "numpy")
# Not needed to create the app: the S3 client (only with STORAGE_URL=s3://…), PDF and data tools.
OPTIONAL_LIBRARIES = ("boto3", "botocore", "weasyprint", "matplotlib", "apscheduler")
# Loaded when a report is downloaded, not by every web worker and command that completes the app.
REPORT_LIBRARIES = ("fpdf", "openpyxl")
# Needed to serve requests and run commands, not to list them.
REQUEST_LIBRARIES = ("sqlalchemy", "flask_sqlalchemy", "alembic", "flask_migrate", "mako", "markdown_it",
                     "wtforms", "prometheus_client")
COMPLETE_APP = """
import json, sys
from incubator import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": sys.argv[1]})
with app.app_context():
    assert "manage" in app.blueprints
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
CREATE_APP = """
import json, sys
from incubator import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": sys.argv[1]})
app.cli.list_commands(None)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""
FLASK_HELP = """
import json, sys
from flask.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _environment(instance: Path) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name not in ("SECRET_KEY", "INCUBATOR_ENV")}
    return {**environment, "PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{instance / 'db.sqlite3'}",
            "UPLOAD_FOLDER": str(instance / "uploads"), "OUTBOX_DELIVERY": "manual"}


def _run(arguments: list[str], instance: Path) -> str:
    result = subprocess.run(arguments, capture_output=True, text=True, env=_environment(instance), cwd=ROOT,
                            timeout=180, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _modules(stdout: str) -> set[str]:
    return set(json.loads(stdout.strip().splitlines()[-1]))


def test_create_app_imports_no_heavy_library(tmp_path: Path) -> None:
    loaded = _modules(_run([sys.executable, "-c", CREATE_APP, str(tmp_path)], tmp_path))
    assert "incubator" in loaded  # the probe really built the app
    assert loaded.isdisjoint(SOLVER_LIBRARIES + OPTIONAL_LIBRARIES), sorted(loaded & set(SOLVER_LIBRARIES))


def test_flask_help_lists_every_command_without_loading_the_request_side(tmp_path: Path) -> None:
    stdout = _run([sys.executable, "-c", FLASK_HELP, "--app", "incubator", "--help"], tmp_path)
    for command in ("db", "demo", "users", "outbox", "assign", "match", "scheduler", "reminders", "retention"):
        assert f"\n  {command} " in stdout, command
    loaded = _modules(stdout)
    assert "incubator" in loaded
    heavy = set(SOLVER_LIBRARIES + OPTIONAL_LIBRARIES + REQUEST_LIBRARIES)
    assert loaded.isdisjoint(heavy), sorted(loaded & heavy)


def test_the_complete_app_loads_the_report_libraries_only_for_a_report(tmp_path: Path) -> None:
    loaded = _modules(_run([sys.executable, "-c", COMPLETE_APP, str(tmp_path)], tmp_path))
    assert {"incubator", "sqlalchemy", "wtforms"} <= loaded  # the probe really completed the app
    assert loaded.isdisjoint(REPORT_LIBRARIES), sorted(loaded & set(REPORT_LIBRARIES))


def test_the_solver_commands_run_without_the_request_side(tmp_path: Path) -> None:
    instance = tmp_path / "instance.json"
    instance.write_text('{"applicants": {"a": ["s"]}, "slots": {"s": {"capacity": 1, "ranking": ["a"]}}}')
    stdout = _run([sys.executable, "-c", FLASK_HELP, "--app", "incubator", "match", "solve", str(instance)], tmp_path)
    assert json.loads(stdout.splitlines()[0]) == {"matching": {"s": ["a"]}, "unmatched": []}
    loaded = _modules(stdout)
    # The matching solver is plain Python: NumPy's import was a tenth of `match solve` on
    # 100,000 applicants (bench/bench_match_cli.py).
    assert loaded.isdisjoint(REQUEST_LIBRARIES + ("numpy",)), sorted(loaded & {*REQUEST_LIBRARIES, "numpy"})


def test_commands_run_on_the_complete_app(tmp_path: Path) -> None:
    flask = [sys.executable, "-m", "flask", "--app", "incubator"]
    _run(flask + ["db", "upgrade"], tmp_path)
    assert "No new upgrade operations detected" in _run(flask + ["db", "check"], tmp_path)
    assert _run(flask + ["outbox", "deliver"], tmp_path).strip() == "sent 0, retrying 0, failed 0"
    routes = _run(flask + ["routes"], tmp_path)  # a built-in command: it pushes its own app context
    assert "review.reviewer_list" in routes or "/review/" in routes


def test_every_command_group_of_the_app_completes_it_before_running(tmp_path: Path) -> None:
    """A plain AppGroup's commands would run on an app without models or database (see cli.py)."""
    from incubator.cli import AppCommandGroup

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path),
                      "OUTBOX_DELIVERY": "manual"})
    plain = [name for name, command in app.cli.commands.items()
             if name != "db" and not isinstance(command, AppCommandGroup)]
    assert plain == [], f"make these AppCommandGroup: {plain}"


def test_first_requests_arriving_together_all_meet_the_complete_app(tmp_path: Path) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'db.sqlite3'}", "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path), "OUTBOX_DELIVERY": "manual", "TESTING": True,
                      "SERVER_NAME": "localhost"})
    assert len(app.blueprints) == 0  # nothing of the request side yet
    start = threading.Barrier(6)
    statuses: list[int] = []

    def first_request() -> None:
        start.wait()
        statuses.append(app.test_client().get("/login").status_code)

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 6
    assert {"auth", "apply", "manage", "review"} <= set(app.blueprints)


def test_an_app_context_completes_the_app(tmp_path: Path) -> None:
    app: Flask = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x",
                             "INSTANCE_PATH": str(tmp_path), "OUTBOX_DELIVERY": "manual"})
    with app.app_context():
        assert "sqlalchemy" in app.extensions
        assert app.extensions["migrate"].directory.endswith("migrations")  # Flask-Migrate, bound on first use
        assert any(rule.endpoint.startswith("manage.") for rule in app.url_map.iter_rules())


def test_the_solvers_still_import_their_libraries_when_used() -> None:
    from incubator.domain.affinity import text_similarity

    similarity = text_similarity(["soil sensors for farms"], ["farm soil sensor network", "payroll software"])
    assert similarity[0, 0] > similarity[0, 1]
    assert "sklearn" in sys.modules
