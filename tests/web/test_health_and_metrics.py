"""/healthz, /readyz and /metrics for machines; a request id and one log line per request."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from incubator import create_app
from incubator.config import ConfigurationError
from incubator.database import utcnow
from incubator.extensions import db
from incubator.logs import JsonFormatter, TextFormatter
from incubator.models import OutboundEmail
from incubator.services.scheduling import claim_lease, record_job_run
from tests.conftest import base_config
from tests.support.postgres import _free_port

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"METRICS_TOKEN": TOKEN, "SCHEDULER_STALE_AFTER": 30, "OUTBOX_MAX_DELAY": 600}


def lead_scheduler(renewed_seconds_ago: float = 0, holder: str = "host-a:123:abc") -> None:
    claim_lease(holder, utcnow() - dt.timedelta(seconds=renewed_seconds_ago), dt.timedelta(seconds=60))
    db.session.commit()


def metrics(client: FlaskClient) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return response.get_data(as_text=True)


# --- /healthz and /readyz ---------------------------------------------------------------------


def test_healthz_answers_without_a_database(tmp_path: Path) -> None:
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"
    client = create_app(base_config(unreachable, tmp_path)).test_client()
    response = client.get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json["status"] == "not ready"
    assert ready.json["database"] == {"ok": False}


def test_readyz_is_ready_with_a_fresh_scheduler_and_a_flowing_outbox(app: Flask, client: FlaskClient) -> None:
    lead_scheduler(renewed_seconds_ago=5)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    body = response.json
    assert body["status"] == "ready"
    assert body["migrations"]["ok"] and body["migrations"]["current"] == body["migrations"]["head"] != []
    assert body["scheduler"]["ok"] and body["scheduler"]["leader"] == "host-a:123:abc"
    assert body["outbox"] == {"ok": True, "pending": 0, "failed": 0, "oldest_due_seconds": 0.0}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_fails_without_any_scheduler(app: Flask, client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["scheduler"] == {"ok": False, "leader": None, "renewed_seconds_ago": None, "jobs": {}}


def test_readyz_fails_when_the_leader_stopped_renewing(app: Flask, client: FlaskClient) -> None:
    lead_scheduler(renewed_seconds_ago=31)  # its lease has not even expired yet
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["scheduler"]["ok"] is False
    assert response.json["scheduler"]["renewed_seconds_ago"] >= 31


def test_readyz_fails_when_migrations_are_behind(app: Flask, client: FlaskClient) -> None:
    lead_scheduler()
    head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
    db.session.execute(text("UPDATE alembic_version SET version_num = 'bc7b40f6a954'"))
    db.session.commit()
    try:
        response = client.get("/readyz")
    finally:  # the PostgreSQL database is shared by the whole session: put its version back
        db.session.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        db.session.commit()
    assert response.status_code == 503
    assert response.json["migrations"]["ok"] is False
    assert response.json["migrations"]["current"] == ["bc7b40f6a954"]


def test_readyz_fails_when_email_waits_too_long(app: Flask, client: FlaskClient) -> None:
    lead_scheduler()
    now = utcnow()
    db.session.add_all([
        OutboundEmail(to_address="late@example.org", subject="s", body_text="b", kind="test",
                      next_attempt_at=now - dt.timedelta(seconds=700)),
        OutboundEmail(to_address="gone@example.org", subject="s", body_text="b", kind="test", status="failed"),
    ])
    db.session.commit()
    response = client.get("/readyz")
    assert response.status_code == 503
    outbox = response.json["outbox"]
    assert (outbox["ok"], outbox["pending"], outbox["failed"]) == (False, 1, 1)
    assert outbox["oldest_due_seconds"] >= 700


# --- /metrics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{}], indirect=False)
def test_metrics_do_not_exist_without_a_token(app: Flask, client: FlaskClient) -> None:
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_metrics_want_the_bearer_token(app: Flask, client: FlaskClient, header: str | None) -> None:
    response = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "incubator_" not in response.get_data(as_text=True)


def test_metrics_count_requests_per_endpoint(app: Flask, client: FlaskClient) -> None:
    before = metrics(client)
    for _ in range(3):
        client.get("/login")
    after = metrics(client)
    pattern = re.compile(r'^incubator_http_request_duration_seconds_count\{endpoint="auth.login",method="GET",'
                         r'status="200"\} (\S+)$', re.M)
    counted_before = float(match.group(1)) if (match := pattern.search(before)) else 0.0
    assert float(pattern.search(after).group(1)) == counted_before + 3


def test_metrics_report_outbox_scheduler_and_jobs_from_the_database(app: Flask, client: FlaskClient) -> None:
    lead_scheduler(holder="host-b:7:def")
    now = utcnow()
    db.session.add_all([OutboundEmail(to_address=f"{n}@example.org", subject="s", body_text="b", kind="test")
                        for n in range(2)])
    db.session.add(OutboundEmail(to_address="x@example.org", subject="s", body_text="b", kind="test", status="failed"))
    record_job_run("reminder-sweep", "host-b:7:def", now - dt.timedelta(seconds=2.5), now, items=4)
    db.session.commit()
    body = metrics(client)
    assert 'incubator_outbox_emails{status="pending"} 2.0' in body
    assert 'incubator_outbox_emails{status="failed"} 1.0' in body
    assert "incubator_scheduler_leader_present 1.0" in body
    assert 'incubator_scheduler_leader{holder="host-b:7:def"} 1.0' in body
    assert 'incubator_job_last_duration_seconds{job="reminder-sweep"} 2.5' in body
    assert 'incubator_job_last_items{job="reminder-sweep"} 4.0' in body
    assert 'incubator_job_items_total{job="reminder-sweep"} 4.0' in body
    assert 'incubator_job_runs_total{job="reminder-sweep"} 1.0' in body


# --- request ids and request logs -------------------------------------------------------------


def test_every_response_carries_its_own_request_id(app: Flask, client: FlaskClient) -> None:
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", value) for value in ids)


def test_request_id_from_the_proxy_is_kept_when_it_looks_like_one(app: Flask, client: FlaskClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "nginx-4f2a9c1d"}).headers["X-Request-ID"] == "nginx-4f2a9c1d"
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


def test_one_log_line_per_request_with_id_user_endpoint_status_and_duration(
        app: Flask, applicant_client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="incubator.request"):
        response = applicant_client.get("/dashboard")
    [record] = [r for r in caplog.records if r.name == "incubator.request"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["request_id"] == response.headers["X-Request-ID"]
    assert (fields["user_id"], fields["endpoint"], fields["status"], fields["method"], fields["path"]) == (
        applicant_client.user.id, "main.dashboard", 200, "GET", "/dashboard")
    assert fields["duration_ms"] > 0

    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "GET /dashboard 200"
    assert line["request_id"] == fields["request_id"] and line["user_id"] == applicant_client.user.id
    assert line["level"] == "info" and line["logger"] == "incubator.request"
    assert f"request_id={fields['request_id']}" in TextFormatter().format(record)


def test_log_format_json_switches_the_handler(database_url: str, tmp_path: Path) -> None:
    create_app({**base_config(database_url, tmp_path), "LOG_FORMAT": "json"})
    handlers = [h for h in logging.getLogger("incubator").handlers if getattr(h, "_incubator_handler", False)]
    try:
        assert len(handlers) == 1 and isinstance(handlers[0].formatter, JsonFormatter)
    finally:
        create_app(base_config(database_url, tmp_path))
    assert isinstance(handlers[0].formatter, TextFormatter)


def test_unknown_log_format_stops_start_up(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LOG_FORMAT must be one of text, json"):
        create_app({**base_config(database_url, tmp_path), "LOG_FORMAT": "xml"})
