"""A run with any skipped test fails (pytest plugin module).

A skip makes a suite look green while something was not tested (a missing PostgreSQL or
Chromium, a forgotten ``pytest.skip``). ``make test`` must never pass that way, so the session
ends with exit status 1 naming every skipped test. A developer who knowingly lacks a service
may set ``TESTS_ALLOW_MISSING_SERVICES=1`` (``make test`` never sets it) to let skips pass.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

ALLOW_ENV = "TESTS_ALLOW_MISSING_SERVICES"


def skips_allowed() -> bool:
    return os.environ.get(ALLOW_ENV) == "1"


class SkipGuard:
    """Remembers every skip of the session and turns a green exit status red."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A module skipped at import (``pytest.skip(allow_module_level=True)``, importorskip).
        if report.skipped:
            self.skipped.append(report.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        report = outcome.get_result()
        if report.skipped and not hasattr(report, "wasxfail"):
            self.skipped.append(item.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.skipped or skips_allowed():
            return
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "skipped tests fail this run", red=True, bold=True)
            for nodeid in sorted(set(self.skipped)):
                reporter.write_line(f"SKIPPED (not allowed): {nodeid}")
            reporter.write_line(f"Install what is missing, or set {ALLOW_ENV}=1 to allow skips locally.")
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipGuard(), "incubator-skip-guard")
