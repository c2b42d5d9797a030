"""The scheduler process: ``flask --app incubator scheduler run``.

An APScheduler ``BlockingScheduler`` in its own process, never inside a web worker (``create_app``
does not start it; ``run`` refuses inside a request). Its jobs have fixed ids, coalesce missed
runs into one and never overlap themselves (``max_instances=1``). Every job is idempotent by
database state, so two scheduler processes, a restart or a crash mid-run neither send a
reminder twice nor lose one:

- ``reminder-sweep`` (every 5 min): ``services.reminders.sweep``; claims reminder keys under a
  unique constraint and writes the digests to the outbox in one transaction.
- ``outbox-delivery`` (every minute): ``mail.deliver_all_due``; rows are claimed with a guarded
  UPDATE (and ``SKIP LOCKED`` on PostgreSQL).
- ``outbox-reset-stuck`` (every 5 min): rows left in 'sending' for over 10 minutes by a process
  that died go back to pending (``mail.reset_stuck_deliveries``; at-least-once, see there).
- ``offer-expiry`` (every 5 min): ``services.offers.expire_offers(now)``.

Each job runs in its own app context and commits its own unit of work.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, has_request_context

from incubator.database import utcnow
from incubator.extensions import db

log = logging.getLogger("incubator.scheduler")


@dataclass(frozen=True)
class Intervals:
    sweep: float = 300
    delivery: float = 60
    reset_stuck: float = 300
    offer_expiry: float = 300
    stuck_after: float = 600  # seconds in 'sending' before a row counts as abandoned


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


def _in_app_context(app: Flask, name: str, job: Callable[[], Any]) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                job()
            except Exception:  # a failed run is retried at the next interval; keep the process
                log.exception("scheduler job %s failed", name)
                db.session.rollback()
            finally:
                db.session.remove()

    run.__name__ = f"job_{name.replace('-', '_')}"
    return run


def build_scheduler(app: Flask, intervals: Intervals = Intervals()) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=dt.UTC)
    jobs: list[tuple[str, float, Callable[[], Any]]] = [
        ("reminder-sweep", intervals.sweep, sweep_reminders),
        ("outbox-delivery", intervals.delivery, deliver_outbox),
        ("outbox-reset-stuck", intervals.reset_stuck, lambda: reset_stuck(stuck_after=intervals.stuck_after)),
        ("offer-expiry", intervals.offer_expiry, expire_offers),
    ]
    start = dt.datetime.now(dt.UTC)
    for job_id, seconds, job in jobs:
        scheduler.add_job(
            _in_app_context(app, job_id, job), IntervalTrigger(seconds=seconds, timezone=dt.UTC), id=job_id,
            name=job_id, coalesce=True, max_instances=1, replace_existing=True, next_run_time=start,
            misfire_grace_time=max(int(seconds), 1),
        )
    return scheduler


def run(app: Flask, intervals: Intervals = Intervals()) -> None:
    """Block running the jobs until SIGTERM or SIGINT."""
    if has_request_context():
        raise RuntimeError("the scheduler runs as its own process, never inside a web request")
    scheduler = build_scheduler(app, intervals)

    def stop(signum: int, frame: Any) -> None:
        log.info("scheduler stopping (signal %d)", signum)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started: %s", ", ".join(job.id for job in scheduler.get_jobs()))
    scheduler.start()
