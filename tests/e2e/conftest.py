"""A live server for browser tests: the real app on SQLite, served from a thread."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page

from incubator import create_app
from incubator.extensions import db, limiter
from tests.conftest import base_config
from tests.support.browser import serve_wsgi_in_thread, watch_accessibility


@pytest.fixture
def live_app_config() -> dict[str, Any]:
    """Extra settings for the live app; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def live_app(sqlite_template: Path, tmp_path: Path, live_app_config: dict[str, Any]) -> Iterator[Flask]:
    path = tmp_path / "live.sqlite3"
    shutil.copyfile(sqlite_template, path)
    config = base_config(f"sqlite:///{path}", tmp_path)
    config.update(SERVER_NAME=None, OUTBOX_DELIVERY="thread", **live_app_config)
    app = create_app(config)
    with app.app_context():
        limiter.reset()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[str]:
    with serve_wsgi_in_thread(live_app) as base_url:
        yield base_url


@pytest.fixture(autouse=True)
def every_page_passes_axe(page: Page) -> Iterator[None]:
    """axe-core (WCAG 2.1 A/AA) and the sideways-scroll check on every page a browser test loads."""
    problems = watch_accessibility(page)
    yield
    assert not problems, "accessibility problems on the pages this test visited:\n" + "\n".join(problems)
