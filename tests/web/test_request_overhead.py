"""What every request pays: a signed-in request reads its session, user and programme scope in
one statement, and nothing is read again to write the request's log line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incubator import create_app
from incubator.extensions import limiter
from tests.conftest import base_config
from tests.support.statements import statements_sent


def test_a_signed_in_request_reads_session_user_and_scope_in_one_statement(
        app: Flask, reviewer_client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    reviewer_client.get("/healthz")  # the once-a-minute last_seen_at write is behind us
    caplog.clear()
    with statements_sent() as seen, caplog.at_level(logging.INFO, logger="incubator.request"):
        assert reviewer_client.get("/healthz").status_code == 200
    assert len(seen) == 1, seen
    assert "user_sessions" in seen[0].statement and "user_programme_scopes" in seen[0].statement
    # The log line names the user although the commit expired them, without reading them again.
    [line] = [record for record in caplog.records if record.name == "incubator.request"]
    assert line.fields["user_id"] == reviewer_client.user.id  # type: ignore[attr-defined]


def test_an_anonymous_request_reads_nothing(app: Flask, client: FlaskClient) -> None:
    with statements_sent() as seen:
        assert client.get("/healthz").status_code == 200
    assert seen == []


def test_the_limiter_checks_only_the_routes_with_limits(app: Flask) -> None:
    """No default, application or blueprint limits: Flask-Limiter's every-request hook is out
    (the sign-in routes' own decorators still count; test_auth and test_login_throttle)."""
    assert limiter._check_request_limit not in app.before_request_funcs[None]


def test_a_limit_for_every_route_keeps_the_limiters_hook(database_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The limiter object is shared by every app of the test process and keeps the first default
    # limits it is given: they are put back as they were (none) after this test.
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", [])
    app = create_app({**base_config(database_url, tmp_path), "RATELIMIT_DEFAULT": "1000 per second"})
    with app.app_context():  # builds the request-serving part, where the hook is decided
        assert limiter._check_request_limit in app.before_request_funcs[None]
