"""The scheduler as real processes (``flask scheduler run``) on the test PostgreSQL database.

Two schedulers sweeping and delivering at once send every reminder exactly once; a scheduler
killed with SIGKILL in the middle of an SMTP transaction and started again loses nothing and
sends nothing twice. Both run on PostgreSQL only (the production setup with several processes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select, update

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Assignment, OutboundEmail
from incubator.models.reminders import SentReminder
from incubator.scheduler import Intervals, build_scheduler
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


# Several scheduler processes share one database: that is the PostgreSQL deployment, so these
# tests choose the PostgreSQL backend only (instead of skipping on SQLite).
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def pg_app(app: Flask) -> Flask:
    assert db.engine.dialect.name == "postgresql"
    return app


class CountingSMTP:
    """aiosmtpd that can be slow (in MAIL, before anything is accepted) and counts arrivals."""

    def __init__(self, mail_delay: float = 0.0) -> None:
        self.mail_delay = mail_delay
        self.messages: list[dict[str, str]] = []
        self.mail_started = 0
        self.lock = threading.Condition()
        self.controller: Controller | None = None
        self.port = 0

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self.lock:
            self.mail_started += 1
            self.lock.notify_all()
        if self.mail_delay:
            await asyncio.sleep(self.mail_delay)
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        import email
        from email.policy import default

        message = email.message_from_bytes(envelope.original_content, policy=default)
        with self.lock:
            self.messages.append({"to": str(message["To"]), "id": str(message["Message-ID"])})
            self.lock.notify_all()
        return "250 Message accepted"

    def wait(self, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
            return True

    def __enter__(self) -> CountingSMTP:
        from tests.support.smtp import _free_port

        self.port = _free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.controller is not None:
            self.controller.stop()


def start_scheduler(url: str, smtp_port: int, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "test-secret-key-not-for-production",
           "PUBLIC_BASE_URL": "http://localhost",
           "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "OUTBOX_DELIVERY": "manual",
           "SERVER_NAME": "localhost", "FLASK_APP": "incubator"}
    command = [FLASK, "--app", "incubator", "scheduler", "run", "--sweep-every", "0.5", "--deliver-every", "0.3",
               "--reset-every", "0.5", "--expire-every", "5", "--lease-seconds", "3", "--renew-every", "0.5", *extra]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.terminate()
    for process in started:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def due_reminders(reviewers: int, per_reviewer: int, drafts: int) -> set[str]:
    """Reviews due in 36 hours (so the 2-day reminder is due now) and drafts of a call closing in 20 hours."""
    now = utcnow()
    call = make_call(opens_at=now - dt.timedelta(days=40), closes_at=now - dt.timedelta(days=10),
                     review_deadline=now + dt.timedelta(hours=36))
    open_call = make_call(opens_at=now - dt.timedelta(days=30), closes_at=now + dt.timedelta(hours=20))
    expected = set()
    for number in range(reviewers):
        reviewer = make_reviewer()
        expected.add(reviewer.email)
        for index in range(per_reviewer):
            application = make_application(make_applicant(), call, state="submitted",
                                           company_name=f"Company {number}-{index}")
            make_assignment(application, reviewer, due_at=call.review_deadline)
    for _ in range(drafts):
        applicant = make_applicant()
        make_application(applicant, open_call, state="draft", created_at=now - dt.timedelta(days=20))
        expected.add(applicant.email)
    db.session.execute(update(Assignment).values(assigned_at=now - dt.timedelta(days=10)))
    db.session.commit()
    return expected


@postgresql_only
def test_two_schedulers_on_one_database_send_every_reminder_exactly_once(
        pg_app: Flask, postgresql_url: str, processes: list, tmp_path: Path) -> None:
    expected = due_reminders(reviewers=20, per_reviewer=2, drafts=5)
    with CountingSMTP() as smtp:
        for number in range(2):
            processes.append(start_scheduler(postgresql_url, smtp.port, tmp_path / f"scheduler{number}.log"))
        arrived = smtp.wait(lambda: len(smtp.messages) >= len(expected), timeout=30)
        time.sleep(1.5)  # several more sweeps and deliveries by both: nothing more may come
        for process in processes:
            assert process.poll() is None, (tmp_path / "scheduler0.log").read_text()
            process.send_signal(signal.SIGTERM)
        for process in processes:
            assert process.wait(timeout=10) == 0
        counts = Counter(message["to"] for message in smtp.messages)
    logs = "\n".join(path.read_text()[-3000:] for path in tmp_path.glob("*.log"))
    assert arrived, logs
    assert set(counts) == expected and set(counts.values()) == {1}, counts
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SentReminder)) == 20 * 2 + 5
    assert dict(db.session.execute(select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status)).all()) \
        == {"sent": len(expected)}
    # Both processes ran; one led (the other stood by, unless a slow machine made them swap).
    texts = [(tmp_path / f"scheduler{number}.log").read_text() for number in range(2)]
    assert all("scheduler started" in text for text in texts)
    assert any("now leads" in text for text in texts), texts


@postgresql_only
def test_scheduler_killed_mid_delivery_and_restarted_loses_nothing_and_sends_nothing_twice(
        pg_app: Flask, postgresql_url: str, processes: list, tmp_path: Path) -> None:
    expected = due_reminders(reviewers=8, per_reviewer=1, drafts=0)
    log = tmp_path / "scheduler.log"
    with CountingSMTP(mail_delay=0.15) as smtp:
        first = start_scheduler(postgresql_url, smtp.port, log)
        processes.append(first)
        # Kill it while the SMTP server holds the fifth transaction (after MAIL FROM, before
        # anything is accepted): four emails are sent and committed, the fifth is in 'sending'.
        assert smtp.wait(lambda: smtp.mail_started >= 5, timeout=30), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        time.sleep(0.3)
        sent_before = len(smtp.messages)
        db.session.expire_all()
        states = Counter(db.session.scalars(select(OutboundEmail.status)))
        assert sent_before == 4 and states["sent"] == 4 and states["sending"] >= 1, (sent_before, states)

        smtp.mail_delay = 0.0
        processes.append(start_scheduler(postgresql_url, smtp.port, log, "--stuck-after", "1"))
        arrived = smtp.wait(lambda: len(smtp.messages) >= len(expected), timeout=30)
        time.sleep(1.0)
        processes[-1].send_signal(signal.SIGTERM)
        assert processes[-1].wait(timeout=10) == 0
    assert arrived, log.read_text()[-3000:]
    counts = Counter(message["to"] for message in smtp.messages)
    assert set(counts) == expected and set(counts.values()) == {1}, counts
    assert len({message["id"] for message in smtp.messages}) == len(expected)
    db.session.expire_all()
    assert Counter(db.session.scalars(select(OutboundEmail.status))) == {"sent": len(expected)}


def test_jobs_have_fixed_ids_coalesce_and_never_overlap(app: Flask) -> None:
    scheduler = build_scheduler(app, Intervals())
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"reminder-sweep", "outbox-delivery", "outbox-reset-stuck", "offer-expiry",
                         "retention-anonymise", "scheduler-lease"}
    assert all(job.coalesce and job.max_instances == 1 for job in jobs.values())
    assert jobs["reminder-sweep"].trigger.interval == dt.timedelta(minutes=5)
    assert jobs["outbox-delivery"].trigger.interval == dt.timedelta(minutes=1)


def test_create_app_starts_no_scheduler(app: Flask) -> None:
    assert "scheduler" not in app.extensions
    assert not any(thread.name.startswith("APScheduler") for thread in threading.enumerate())


def test_reset_stuck_deliveries_only_touches_rows_older_than_the_limit(app: Flask) -> None:
    from incubator.mail import reset_stuck_deliveries

    now = utcnow()
    for minutes in (5, 15):
        db.session.add(OutboundEmail(to_address=f"{minutes}@example.org", subject="s", body_text="b", kind="test",
                                     status="sending", attempts=1, sending_started_at=now - dt.timedelta(minutes=minutes)))
    db.session.commit()
    assert reset_stuck_deliveries(now) == 1
    db.session.commit()
    assert dict(db.session.execute(select(OutboundEmail.to_address, OutboundEmail.status)).all()) == {
        "5@example.org": "sending", "15@example.org": "pending"}


def test_offer_expiry_job_runs_the_offers_service(app: Flask) -> None:
    from incubator.scheduler import expire_offers

    assert expire_offers(utcnow()) == 0  # nothing is due; the job ran (and committed) instead of being skipped


def test_message_id_is_stable_per_row_so_a_resend_after_a_crash_can_be_recognised(app: Flask) -> None:
    from incubator.mail import build_message

    email = OutboundEmail(to_address="a@example.org", subject="s", body_text="b", kind="test")
    db.session.add(email)
    db.session.commit()
    first = build_message(email, "OCC <incubator@occ.example>")["Message-ID"]
    assert first == build_message(email, "OCC <incubator@occ.example>")["Message-ID"]
    assert first.endswith("@occ.example>") and f"outbox-{email.id}." in first


def test_cli_sweep_once(app: Flask, make_user) -> None:
    make_user(Role.MANAGER)
    result = app.test_cli_runner().invoke(args=["reminders", "sweep"])
    assert result.exit_code == 0 and "reminders in" in result.output
