"""The production topology on this machine, as README's "Production" section describes it.

A throwaway PostgreSQL, a throwaway Redis (Debian's redis-server), an S3 API (moto's server), an
SMTP server, two gunicorn web hosts on two ports started with deploy/gunicorn.conf.py and one
SECRET_KEY, and two ``flask scheduler run`` processes. Every check talks to them over the
network as a browser, a load balancer or Prometheus would. The tests run in file order and
share the topology; the scheduler failover comes last but one because it kills a process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select, update

from incubator import create_app
from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Assignment, Attachment, OutboundEmail, SchedulerLease, User
from incubator.models.reminders import SentReminder
from incubator.services.passwords import hash_password
from tests.conftest import PASSWORD, base_config, migrate_to_head
from tests.factories import TINY_PDF, make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer
from tests.support.postgres import PostgresServer, _free_port, _libpq_url, fresh_database
from tests.support.redis import RedisServer
from tests.support.s3 import S3Endpoint
from tests.support.smtp import SMTPTestServer

pytestmark = pytest.mark.topology

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET_KEY = "topology-secret-shared-by-every-web-host"
METRICS_TOKEN = "topology-metrics-token"
LEASE_SECONDS, RENEW_SECONDS = 6.0, 1.0  # the standby leads within LEASE + RENEW of the leader dying
STALE_AFTER = 3  # /readyz reports a leader that has not renewed for this long
FREE_FAILURES = 4
START_TIMEOUT = 60.0


@dataclass
class Topology:
    env: dict[str, str]
    database_url: str
    bucket: str
    s3: S3Endpoint
    redis: RedisServer
    smtp: SMTPTestServer
    pg: PostgresServer
    logs: Path
    host_a: str = ""
    host_b: str = ""
    metrics_dirs: dict[str, Path] = field(default_factory=dict)
    schedulers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    control: Flask | None = None
    killed: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log_tail(self) -> str:
        return "\n".join(f"== {path.name}\n{path.read_text(errors='replace')[-2500:]}"
                         for path in sorted(self.logs.glob("*.log")))


def _spawn(topology: Topology, name: str, command: list[str], **env: str) -> subprocess.Popen[bytes]:
    with (topology.logs / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**topology.env, **env}, stdout=log,
                                   stderr=subprocess.STDOUT)
    topology.processes.append(process)
    return process


def _start_web_host(topology: Topology, name: str, workers: int) -> str:
    port = _free_port()
    metrics_dir = topology.logs / f"metrics-{name}"
    topology.metrics_dirs[name] = metrics_dir
    _spawn(topology, name, [str(BIN / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
           GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(workers), GUNICORN_THREADS="2",
           PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    return f"http://127.0.0.1:{port}"


def _start_scheduler(topology: Topology, name: str) -> subprocess.Popen[bytes]:
    process = _spawn(topology, name, [
        str(BIN / "flask"), "--app", "incubator", "scheduler", "run", "--lease-seconds", str(LEASE_SECONDS),
        "--renew-every", str(RENEW_SECONDS), "--sweep-every", "1", "--deliver-every", "0.5",
        "--reset-every", "5", "--expire-every", "5"], SERVER_NAME="incubator.example")
    topology.schedulers.append(process)
    return process


def _wait_until(predicate: Callable[[], Any], timeout: float, what: str, topology: Topology) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if exited := [p.args for p in topology.processes if p.poll() is not None and p not in topology.killed]:
            raise AssertionError(f"{exited} exited while waiting for {what}\n{topology.log_tail()}")
        try:
            if result := predicate():
                return result
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{topology.log_tail()}")


@pytest.fixture(scope="module")
def topology(postgresql_server: PostgresServer, redis_server: RedisServer, s3_endpoint: S3Endpoint) -> Iterator[Topology]:
    database_url = fresh_database(postgresql_server.url(), "topology")
    logs = Path(tempfile.mkdtemp(prefix="topology-"))
    migrate_to_head(database_url, logs)
    bucket = s3_endpoint.create_bucket()
    with SMTPTestServer() as smtp:
        env = {
            **os.environ, "PYTHONPATH": str(ROOT), "FLASK_APP": "incubator", "DATABASE_URL": database_url,
            "SECRET_KEY": SECRET_KEY, "RATELIMIT_STORAGE_URI": redis_server.url,
            **s3_endpoint.settings(bucket), "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
            "OUTBOX_DELIVERY": "scheduler", "LOGIN_FREE_FAILURES": str(FREE_FAILURES),
            "PUBLIC_BASE_URL": "http://127.0.0.1",
            "METRICS_TOKEN": METRICS_TOKEN, "SCHEDULER_STALE_AFTER": str(STALE_AFTER), "LOG_FORMAT": "json",
            "INSTANCE_PATH": str(logs),
        }
        topology = Topology(env=env, database_url=database_url, bucket=bucket, s3=s3_endpoint, redis=redis_server,
                            smtp=smtp, pg=postgresql_server, logs=logs)
        try:
            topology.host_a = _start_web_host(topology, "web-a", workers=2)
            topology.host_b = _start_web_host(topology, "web-b", workers=1)
            for number in (1, 2):
                _start_scheduler(topology, f"scheduler-{number}")
            for host in (topology.host_a, topology.host_b):
                _wait_until(lambda h=host: requests.get(f"{h}/healthz", timeout=2).ok, START_TIMEOUT,
                            f"{host} to answer", topology)
            topology.control = create_app({**base_config(database_url, logs), **s3_endpoint.settings(bucket)})
            yield topology
        finally:
            for process in topology.processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown; the scheduler stops too
            deadline = time.monotonic() + 5  # they all stop at once; a slow exit is not what is tested here
            for process in topology.processes:
                try:
                    process.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if topology.control is not None:
                with topology.control.app_context():
                    db.engine.dispose()
            shutil.rmtree(logs, ignore_errors=True)


@pytest.fixture
def control(topology: Topology) -> Iterator[Flask]:
    """The test's own app on the shared database, to arrange data and look at it."""
    assert topology.control is not None
    with topology.control.app_context():
        yield topology.control
        db.session.remove()


@pytest.fixture(scope="module")
def founder(topology: Topology) -> dict[str, Any]:
    """An applicant with a draft application on an open call (an applicant needs no 2FA step)."""
    assert topology.control is not None
    with topology.control.app_context():
        user = make_applicant(password_hash=hash_password(PASSWORD))
        application = make_application(user, make_call())
        founder = {"id": user.id, "email": user.email, "name": user.name, "application_id": application.id}
        db.session.remove()
    return founder


def csrf_token(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10).text
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def log_in(session: requests.Session, host: str, email: str, password: str = PASSWORD) -> requests.Response:
    return session.post(f"{host}/login", data={"email": email, "password": password,
                                               "csrf_token": csrf_token(session, f"{host}/login")},
                        allow_redirects=False, timeout=10)


def metrics(host: str) -> str:
    response = requests.get(f"{host}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10)
    assert response.status_code == 200
    return response.text


def leader_holder(control: Flask) -> str | None:
    db.session.expire_all()
    lease = db.session.scalar(select(SchedulerLease))
    return lease.holder if lease is not None and lease.expires_at > utcnow() else None


# --- web hosts share sessions, throttling and files ---------------------------------------------


def test_a_login_on_host_a_is_valid_on_host_b(topology: Topology, founder: dict[str, Any]) -> None:
    browser = requests.Session()
    response = log_in(browser, topology.host_a, founder["email"])
    assert response.status_code == 302, response.text[-500:]
    dashboard = browser.get(f"{topology.host_b}/dashboard", allow_redirects=False, timeout=10)
    assert dashboard.status_code == 200
    assert founder["name"] in dashboard.text
    stranger = requests.get(f"{topology.host_b}/dashboard", allow_redirects=False, timeout=10)
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]


def test_failed_logins_on_both_hosts_count_together(topology: Topology, control: Flask) -> None:
    import redis

    email = make_applicant(password_hash=hash_password(PASSWORD)).email
    hosts = [topology.host_a, topology.host_b]
    # Free failures alternate between the hosts; the one after them starts a delay (1 s) that
    # the other host must honour at once, even for the right password.
    statuses = [log_in(requests.Session(), hosts[n % 2], email, "wrong password").status_code
                for n in range(FREE_FAILURES + 1)]
    assert statuses == [400] * (FREE_FAILURES + 1)  # each host saw only about half of them
    blocked = log_in(requests.Session(), topology.host_b, email)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    store = redis.Redis.from_url(topology.redis.url)
    [pair_key] = store.keys(f"*login-failures:pair:{email}|*")
    assert int(store.get(pair_key)) == FREE_FAILURES + 1  # one counter, fed by both hosts


def test_a_pdf_uploaded_through_a_downloads_through_b(topology: Topology, founder: dict[str, Any],
                                                       control: Flask) -> None:
    browser = requests.Session()
    assert log_in(browser, topology.host_a, founder["email"]).status_code == 302
    application_id = founder["application_id"]
    content = TINY_PDF + b"% topology\n"
    response = browser.post(
        f"{topology.host_a}/applications/{application_id}/attachments",
        data={"csrf_token": csrf_token(browser, f"{topology.host_a}/password/change"), "kind": "pitch_deck"},
        files={"file": ("deck.pdf", content, "application/pdf")}, allow_redirects=False, timeout=30)
    assert response.status_code == 302, response.text[-800:]
    attachment = db.session.scalar(select(Attachment).where(Attachment.application_id == application_id))
    assert topology.s3.keys(topology.bucket) == [f"uploads/{attachment.storage_key}"]
    download = browser.get(f"{topology.host_b}/applications/{application_id}/attachments/{attachment.id}",
                           timeout=30)
    assert download.status_code == 200
    assert download.content == content


# --- the outbox and the scheduler -----------------------------------------------------------------


def messages_to(topology: Topology, address: str) -> list[Any]:
    return [message for message in topology.smtp.messages if address in message.envelope_to]


def test_an_email_queued_by_host_a_is_delivered_exactly_once(topology: Topology, founder: dict[str, Any],
                                                             control: Flask) -> None:
    browser = requests.Session()
    response = browser.post(f"{topology.host_a}/password/forgot", data={
        "email": founder["email"], "csrf_token": csrf_token(browser, f"{topology.host_a}/password/forgot")},
        allow_redirects=False, timeout=10)
    assert response.status_code == 302
    _wait_until(lambda: messages_to(topology, founder["email"]), 20, "the reset email", topology)
    time.sleep(2.0)  # four more delivery rounds, and the standby is there too: nothing more may come
    [message] = messages_to(topology, founder["email"])
    assert "password" in message["Subject"].lower()
    db.session.expire_all()
    rows = db.session.execute(select(OutboundEmail.status).where(OutboundEmail.to_address == founder["email"])).all()
    assert [row.status for row in rows] == ["sent"]


def test_metrics_add_up_the_workers_and_logs_are_json_lines_with_the_request_id(topology: Topology) -> None:
    pattern = re.compile(r'^incubator_http_request_duration_seconds_count\{endpoint="ops.healthz",method="GET",'
                         r'status="200"\} (\S+)$', re.M)

    def healthz_count() -> float:
        match = pattern.search(metrics(topology.host_a))
        return float(match.group(1)) if match else 0.0

    before = healthz_count()
    request_ids = set()
    for _ in range(20):  # a new connection each time, so both workers of host A answer some
        response = requests.get(f"{topology.host_a}/healthz", headers={"Connection": "close"}, timeout=10)
        request_ids.add(response.headers["X-Request-ID"])
    assert healthz_count() == before + 20  # whichever worker answered the scrape
    assert len(request_ids) == 20
    body = metrics(topology.host_b)
    assert "incubator_scheduler_leader_present 1.0" in body
    assert 'incubator_outbox_emails{status="failed"} 0.0' in body

    lines = [json.loads(line) for line in (topology.logs / "web-a.log").read_text().splitlines()
             if line.startswith("{")]
    logged = {line["request_id"]: line for line in lines if line.get("logger") == "incubator.request"}
    sample = logged[sorted(request_ids)[0]]
    assert (sample["endpoint"], sample["status"], sample["user_id"]) == ("ops.healthz", 200, None)
    assert sample["duration_ms"] >= 0
    job_lines = [json.loads(line) for path in topology.logs.glob("scheduler-*.log")
                 for line in path.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("job") == "outbox-delivery" and line.get("status") == "ok" for line in job_lines)


def make_due_reviewer_reminders(reviewers: int) -> set[str]:
    """Reviewers whose reviews are due in 36 hours: the 2-day reminder is due now, one email each."""
    now = utcnow()
    call = make_call(opens_at=now - dt.timedelta(days=40), closes_at=now - dt.timedelta(days=10),
                     review_deadline=now + dt.timedelta(hours=36))
    emails = set()
    for _ in range(reviewers):
        reviewer = make_reviewer()
        emails.add(reviewer.email)
        make_assignment(make_application(make_applicant(), call, state="submitted"), reviewer,
                        due_at=call.review_deadline)
    db.session.execute(update(Assignment).where(Assignment.due_at == call.review_deadline)
                       .values(assigned_at=now - dt.timedelta(days=10)))
    db.session.commit()
    return emails


def readyz(host: str) -> tuple[int, dict[str, Any]]:
    response = requests.get(f"{host}/readyz", timeout=5)
    return response.status_code, response.json()


def test_killing_the_leading_scheduler_hands_the_jobs_to_the_standby(topology: Topology, control: Flask) -> None:
    before_kill = make_due_reviewer_reminders(3)
    _wait_until(lambda: all(messages_to(topology, email) for email in before_kill), 20,
                "the first reminders", topology)
    status, body = readyz(topology.host_b)
    assert status == 200, body
    holder = leader_holder(control)
    assert holder is not None
    pid = int(holder.split(":")[1])
    [leader] = [process for process in topology.schedulers if process.pid == pid]
    [standby] = [process for process in topology.schedulers if process.pid != pid]

    topology.killed.append(leader)
    leader.send_signal(signal.SIGKILL)
    killed_at = utcnow()
    leader.wait(timeout=10)
    after_kill = make_due_reviewer_reminders(3)  # due while nobody leads: the standby must send them

    def not_ready() -> dict[str, Any] | None:
        status, body = readyz(topology.host_b)
        return body if status == 503 else None

    body = _wait_until(not_ready, LEASE_SECONDS, "/readyz to report the dead scheduler", topology)
    assert body["scheduler"]["ok"] is False and body["scheduler"]["leader"] == holder
    # Stale means strictly older than STALE_AFTER; the report rounds to milliseconds, so 3.0004 s shows as 3.0.
    assert body["scheduler"]["renewed_seconds_ago"] >= STALE_AFTER
    assert body["database"]["ok"] and body["migrations"]["ok"] and body["outbox"]["ok"]  # only the scheduler
    _wait_until(lambda: readyz(topology.host_b)[0] == 200, LEASE_SECONDS + RENEW_SECONDS + 10,
                "the standby to take over", topology)
    status, body = readyz(topology.host_b)
    assert body["scheduler"]["leader"].split(":")[1] == str(standby.pid)
    db.session.expire_all()
    lease = db.session.scalar(select(SchedulerLease))
    took_over_after = (lease.acquired_at - killed_at).total_seconds()
    # The documented bound, plus a little for a busy test machine delaying the standby's timer.
    assert took_over_after <= LEASE_SECONDS + RENEW_SECONDS + 2.5, took_over_after

    everyone = before_kill | after_kill
    _wait_until(lambda: all(messages_to(topology, email) for email in everyone), 20,
                "the reminders after the takeover", topology)
    time.sleep(2.0)  # more sweeps by the new leader: nothing may come twice
    counts = Counter(address for message in topology.smtp.messages for address in message.envelope_to
                     if address in everyone)
    assert counts == {email: 1 for email in everyone}
    reminded = select(func.count()).select_from(SentReminder).join(User, User.id == SentReminder.recipient_id) \
        .where(User.email.in_(everyone))
    assert db.session.scalar(reminded) == len(everyone)


# --- backup and restore ---------------------------------------------------------------------------


def test_a_pg_dump_backup_restores_into_a_new_database_the_app_can_serve(
        topology: Topology, founder: dict[str, Any], tmp_path: Path) -> None:
    dump = tmp_path / "incubator.dump"
    source = _libpq_url(topology.database_url)
    subprocess.run([str(topology.pg.bin_dir / "pg_dump"), "--format=custom", "--no-owner", f"--file={dump}",
                    f"--dbname={source}"], check=True, capture_output=True, timeout=60)
    restored_url = fresh_database(topology.pg.url(), "restored")
    subprocess.run([str(topology.pg.bin_dir / "pg_restore"), "--no-owner", "--exit-on-error",
                    f"--dbname={_libpq_url(restored_url)}", str(dump)], check=True, capture_output=True, timeout=60)

    restored = create_app({**base_config(restored_url, tmp_path), **topology.s3.settings(topology.bucket),
                           "SERVER_NAME": None, "PUBLIC_BASE_URL": "http://localhost"})
    client = restored.test_client()
    status = client.get("/readyz")
    assert status.json["migrations"]["ok"] is True
    login = client.post("/login", data={"email": founder["email"], "password": PASSWORD,
                                        "csrf_token": _token(client)})
    assert login.status_code == 302
    assert founder["name"] in client.get("/dashboard").get_data(as_text=True)
    with restored.app_context():
        attachment = db.session.scalar(select(Attachment).where(Attachment.application_id == founder["application_id"]))
        attachment_id = attachment.id
    download = client.get(f"/applications/{founder['application_id']}/attachments/{attachment_id}")
    assert download.status_code == 200 and download.get_data().startswith(b"%PDF")
    with restored.app_context():
        db.engine.dispose()


def _token(client: Any) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)
