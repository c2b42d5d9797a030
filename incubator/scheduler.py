"""The scheduler process: ``flask --app incubator scheduler run``.

An APScheduler ``BlockingScheduler`` in its own process, never inside a web worker (``create_app``
does not start it; ``run`` refuses inside a request). Its jobs have fixed ids, coalesce missed
runs into one and never overlap themselves (``max_instances=1``).

Any number of scheduler processes may run (a standby on a second host): they share one lease
row (``services.scheduling``). Every ``renew`` seconds each process tries to take or renew it
for ``lease`` seconds; the holder runs the jobs, the others skip them. When the leader dies, its
lease expires and the next try of a standby wins, so the jobs move within ``lease + renew``
seconds (30 + 10 by default); a leader stopped with SIGTERM releases the lease and a standby
takes over at its next try (``renew`` seconds). The leader stops running jobs ``renew`` seconds
before its own lease could expire unrenewed, so two processes never believe they lead at once
unless their clocks disagree by more than that (keep NTP on). Every job is idempotent by
database state besides, so even then nothing is sent twice:

- ``reminder-sweep`` (every 5 min): ``services.reminders.sweep``; claims reminder keys under a
  unique constraint and writes the digests to the outbox in one transaction.
- ``outbox-delivery`` (every minute): ``mail.deliver_all_due``; rows are claimed with a guarded
  UPDATE (and ``SKIP LOCKED`` on PostgreSQL).
- ``outbox-reset-stuck`` (every 5 min): rows left in 'sending' for over 10 minutes by a process
  that died go back to pending (``mail.reset_stuck_deliveries``; at-least-once, see there).
- ``offer-expiry`` (every 5 min): ``services.offers.expire_offers(now)``.
- ``retention-anonymise`` (every 6 h): ``services.retention.anonymise_expired``; rejected and
  withdrawn applications past ``RETENTION_YEARS`` are anonymised, one bounded batch per run
  (the next run takes the rest); what is done is no longer selected.

Each job runs in its own app context, commits its own unit of work, logs one line and leaves a
heartbeat row (``job_heartbeats``) that /readyz and /metrics read.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, has_request_context

from incubator.database import utcnow
from incubator.extensions import db

log = logging.getLogger("incubator.scheduler")

LEASE_JOB = "scheduler-lease"


@dataclass(frozen=True)
class Intervals:
    sweep: float = 300
    delivery: float = 60
    reset_stuck: float = 300
    offer_expiry: float = 300
    retention: float = 6 * 60 * 60
    stuck_after: float = 600  # seconds in 'sending' before a row counts as abandoned
    lease: float = 30  # seconds a leader's lease lasts unrenewed
    renew: float = 10  # seconds between lease renewals (and a standby's tries)


def sweep_reminders(now: dt.datetime | None = None) -> Any:
    from incubator.services.reminders import sweep

    report = sweep(now or utcnow())
    db.session.commit()
    if report.emails:
        log.info("reminder sweep: %d reminders in %d emails", report.claimed, report.emails)
    return report


def deliver_outbox(now: dt.datetime | None = None) -> Any:
    from incubator.mail import deliver_all_due

    report = deliver_all_due(now)
    if report.sent or report.failed or report.retrying:
        log.info("outbox: sent %d, retrying %d, failed %d", len(report.sent), len(report.retrying),
                 len(report.failed))
    return report


def reset_stuck(now: dt.datetime | None = None, stuck_after: float = Intervals.stuck_after) -> int:
    from incubator.mail import reset_stuck_deliveries

    count = reset_stuck_deliveries(now or utcnow(), dt.timedelta(seconds=stuck_after))
    db.session.commit()
    if count:
        log.warning("outbox: %d deliveries were interrupted and are queued again", count)
    return count


def expire_offers(now: dt.datetime | None = None) -> Any:
    """Expire offers past their deadline (refilling their places), then remind the ones close to it."""
    # Imported here so the scheduler module stays light to import; a failing import must fail loudly.
    from incubator.services.offers import expire_offers as expire
    from incubator.services.offers import remind_expiring_offers

    now = now or utcnow()
    result = expire(now)
    db.session.commit()
    remind_expiring_offers(now)  # offers still open are reminded two days before they expire
    db.session.commit()
    return result


def anonymise_expired_applications(now: dt.datetime | None = None) -> Any:
    from incubator.services.retention import anonymise_expired

    done = anonymise_expired(now or utcnow())
    db.session.commit()
    if done:
        log.info("retention: %d applications anonymised", len(done))
    return done


def _items_of(result: Any) -> int:
    """How much a job handled, for its heartbeat: reminders claimed, emails sent, rows reset."""
    if result is None:
        return 0
    if isinstance(result, int):
        return result
    if isinstance(result, list):
        return len(result)
    if hasattr(result, "claimed"):
        return int(result.claimed)
    if hasattr(result, "sent"):
        return len(result.sent)
    return 0


class Leadership:
    """This process's claim on the scheduler lease."""

    def __init__(self, app: Flask, lease_seconds: float, renew_seconds: float) -> None:
        if renew_seconds >= lease_seconds:
            raise ValueError("the lease must last longer than the time between renewals")
        self.app = app
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.renew_seconds = renew_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._valid_until = 0.0  # time.monotonic() after which we no longer count as leader
        self._lock = threading.Lock()

    def is_leader(self) -> bool:
        return time.monotonic() < self._valid_until

    def renew(self) -> tuple[bool, bool]:
        """Try to take or keep the lease; returns (leading now, leading before)."""
        from incubator.services.scheduling import claim_lease

        with self._lock:
            before = self.is_leader()
            started = time.monotonic()
            with self.app.app_context():
                try:
                    held = claim_lease(self.holder, utcnow(), self.lease)
                    db.session.commit()
                except Exception:  # the database is away: keep trying, lead no longer than allowed
                    log.exception("scheduler: could not renew the lease")
                    db.session.rollback()
                    held = False
                finally:
                    db.session.remove()
            if held:
                self._valid_until = started + self.lease.total_seconds() - self.renew_seconds
            elif before and time.monotonic() >= self._valid_until:
                self._valid_until = 0.0
            return self.is_leader(), before

    def release(self) -> None:
        from incubator.services.scheduling import release_lease

        with self._lock:
            if not self.is_leader():
                return
            self._valid_until = 0.0
            with self.app.app_context():
                try:
                    release_lease(self.holder, utcnow())
                    db.session.commit()
                finally:
                    db.session.remove()


def _job_runner(app: Flask, name: str, job: Callable[[], Any], leadership: Leadership) -> Callable[[], None]:
    def run() -> None:
        if not leadership.is_leader():
            return  # a standby: the leader runs this job
        started_at, started = utcnow(), time.perf_counter()
        error: str | None = None
        items = 0
        with app.app_context():
            try:
                items = _items_of(job())
            except Exception as exc:  # a failed run is retried at the next interval; keep the process
                log.exception("scheduler job %s failed", name)
                db.session.rollback()
                error = f"{type(exc).__name__}: {exc}"
            duration = time.perf_counter() - started
            _record_heartbeat(name, leadership.holder, started_at, error, items)
            log.info("job %s %s", name, "failed" if error else "ok", extra={"fields": {
                "job": name, "status": "failed" if error else "ok", "duration_ms": round(duration * 1000, 2),
                "items": items, "holder": leadership.holder,
            }})

    run.__name__ = f"job_{name.replace('-', '_')}"
    return run


def _record_heartbeat(name: str, holder: str, started_at: dt.datetime, error: str | None, items: int) -> None:
    from incubator.services.scheduling import record_job_run

    try:
        record_job_run(name, holder, started_at, utcnow(), error=error, items=items)
        db.session.commit()
    except Exception:
        log.exception("scheduler: could not record the heartbeat of %s", name)
        db.session.rollback()
    finally:
        db.session.remove()


def _job_table(intervals: Intervals) -> list[tuple[str, float, Callable[[], Any]]]:
    return [
        ("reminder-sweep", intervals.sweep, sweep_reminders),
        ("outbox-delivery", intervals.delivery, deliver_outbox),
        ("outbox-reset-stuck", intervals.reset_stuck, lambda: reset_stuck(stuck_after=intervals.stuck_after)),
        ("offer-expiry", intervals.offer_expiry, expire_offers),
        ("retention-anonymise", intervals.retention, anonymise_expired_applications),
    ]


def build_scheduler(app: Flask, intervals: Intervals = Intervals(),
                    leadership: Leadership | None = None) -> BlockingScheduler:
    leadership = leadership or Leadership(app, intervals.lease, intervals.renew)
    scheduler = BlockingScheduler(timezone=dt.UTC)
    jobs = _job_table(intervals)
    start = dt.datetime.now(dt.UTC)
    for job_id, seconds, job in jobs:
        scheduler.add_job(
            _job_runner(app, job_id, job, leadership), IntervalTrigger(seconds=seconds, timezone=dt.UTC),
            id=job_id, name=job_id, coalesce=True, max_instances=1, replace_existing=True,
            next_run_time=start, misfire_grace_time=max(int(seconds), 1),
        )

    def keep_lease() -> None:
        leading, was_leading = leadership.renew()
        if leading and not was_leading:
            log.info("scheduler %s now leads; running every job now", leadership.holder,
                     extra={"fields": {"holder": leadership.holder, "event": "leader"}})
            now = dt.datetime.now(dt.UTC)
            for job_id, _, _ in jobs:  # a new leader does not wait a whole interval to catch up
                scheduler.modify_job(job_id, next_run_time=now)
        elif was_leading and not leading:
            log.warning("scheduler %s lost the lease; standing by", leadership.holder,
                        extra={"fields": {"holder": leadership.holder, "event": "standby"}})

    scheduler.add_job(keep_lease, IntervalTrigger(seconds=intervals.renew, timezone=dt.UTC), id=LEASE_JOB,
                      name=LEASE_JOB, coalesce=True, max_instances=1, replace_existing=True, next_run_time=start,
                      misfire_grace_time=max(int(intervals.renew), 1))
    scheduler.leadership = leadership  # type: ignore[attr-defined]  # for run() and the tests
    return scheduler


def run(app: Flask, intervals: Intervals = Intervals()) -> None:
    """Block running the jobs (or standing by) until SIGTERM or SIGINT."""
    if has_request_context():
        raise RuntimeError("the scheduler runs as its own process, never inside a web request")
    scheduler = build_scheduler(app, intervals)
    leadership: Leadership = scheduler.leadership  # type: ignore[attr-defined]

    def stop(signum: int, frame: Any) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started: %s (lease %gs, renewed every %gs)", ", ".join(
        job.id for job in scheduler.get_jobs()), intervals.lease, intervals.renew,
        extra={"fields": {"holder": leadership.holder}})
    try:
        scheduler.start()
    finally:
        leadership.release()  # the standby takes over at its next try instead of after expiry
