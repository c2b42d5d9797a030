"""What every request pays: a signed-in request reads its session, user and programme scope in
one statement, and nothing is read again to write the request's log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

from incubator.extensions import db


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    seen: list[str] = []

    def remember(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def test_a_signed_in_request_reads_session_user_and_scope_in_one_statement(
        app: Flask, reviewer_client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    reviewer_client.get("/healthz")  # the once-a-minute last_seen_at write is behind us
    caplog.clear()
    with statements(app) as seen, caplog.at_level(logging.INFO, logger="incubator.request"):
        assert reviewer_client.get("/healthz").status_code == 200
    assert len(seen) == 1, seen
    assert "user_sessions" in seen[0] and "user_programme_scopes" in seen[0]
    # The log line names the user although the commit expired them, without reading them again.
    [line] = [record for record in caplog.records if record.name == "incubator.request"]
    assert line.fields["user_id"] == reviewer_client.user.id  # type: ignore[attr-defined]


def test_an_anonymous_request_reads_nothing(app: Flask, client: FlaskClient) -> None:
    with statements(app) as seen:
        assert client.get("/healthz").status_code == 200
    assert seen == []
