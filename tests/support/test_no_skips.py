"""``make test`` never passes with a skipped test, unless a developer opts out explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SKIPPING_TESTS = """
import pytest

def test_passes():
    pass

def test_skips():
    pytest.skip("PostgreSQL is not installed")
"""


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SKIPPING_TESTS)
    environment = {key: value for key, value in os.environ.items() if key != "TESTS_ALLOW_MISSING_SERVICES"}
    environment.update(PYTHONPATH=str(PROJECT_ROOT), **env)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.no_skips", "-p", "no:cacheprovider", "-q",
         "test_sample.py"],
        cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_a_skipped_test_fails_the_run_and_is_named(tmp_path: Path) -> None:
    result = run_pytest(tmp_path)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "SKIPPED (not allowed): test_sample.py::test_skips" in result.stdout


def test_a_developer_may_allow_skips_explicitly(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, TESTS_ALLOW_MISSING_SERVICES="1")
    assert result.returncode == pytest.ExitCode.OK, result.stdout


def test_make_test_never_allows_skips() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "TESTS_ALLOW_MISSING_SERVICES" not in makefile
    assert "CI=" not in makefile


@pytest.mark.parametrize("module", ["tests.support.postgres", "tests.support.browser"])
def test_a_missing_service_fails_unless_skips_are_allowed(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    unavailable = importlib.import_module(module)._unavailable
    monkeypatch.delenv("TESTS_ALLOW_MISSING_SERVICES", raising=False)
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.fail.Exception, match="not found"):
        unavailable("initdb not found")
    monkeypatch.setenv("TESTS_ALLOW_MISSING_SERVICES", "1")
    with pytest.raises(pytest.skip.Exception):
        unavailable("initdb not found")
