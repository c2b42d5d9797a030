"""The scheduler's lease (who leads) and the heartbeat every job run leaves behind.

Several ``flask scheduler run`` processes may run; the one holding the unexpired lease row runs
the jobs, the others renew nothing and wait. Taking the lease is one guarded UPDATE ("mine, or
expired"), so two standbys racing for an expired lease cannot both win: on PostgreSQL the second
UPDATE waits for the first and then finds the row no longer expired; SQLite serialises writers.
Times are the processes' wall clocks, so scheduler hosts must keep them in sync (NTP).

Like every service these only flush; the scheduler commits each step at once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from incubator.extensions import db
from incubator.models import JobHeartbeat, SchedulerLease

SCHEDULER_LEASE = "scheduler"


def _insert_if_absent(model: Any, values: dict[str, Any], key: str) -> None:
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    db.session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=[key]))


def claim_lease(holder: str, now: dt.datetime, duration: dt.timedelta, name: str = SCHEDULER_LEASE) -> bool:
    """Take the lease if it is free or expired, or renew it if ``holder`` has it; True if held."""
    renewed = db.session.execute(
        update(SchedulerLease)
        .where(SchedulerLease.name == name,
               or_(SchedulerLease.holder == holder, SchedulerLease.expires_at <= now))
        .values(holder=holder, renewed_at=now, expires_at=now + duration,
                acquired_at=case((SchedulerLease.holder == holder, SchedulerLease.acquired_at), else_=now))
        .execution_options(synchronize_session=False)
    )
    if renewed.rowcount == 1:  # type: ignore[attr-defined]
        return True
    # The very first scheduler creates the row; of two first ones, the second's insert is ignored.
    _insert_if_absent(SchedulerLease, {"name": name, "holder": holder, "acquired_at": now, "renewed_at": now,
                                       "expires_at": now + duration}, "name")
    lease = current_lease(name)
    return lease is not None and lease.holder == holder


def release_lease(holder: str, now: dt.datetime, name: str = SCHEDULER_LEASE) -> None:
    """Let a standby take over at its next try instead of waiting for the lease to expire."""
    db.session.execute(
        update(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.holder == holder)
        .values(expires_at=now).execution_options(synchronize_session=False)
    )


def current_lease(name: str = SCHEDULER_LEASE) -> SchedulerLease | None:
    return db.session.scalar(select(SchedulerLease).where(SchedulerLease.name == name)
                             .execution_options(populate_existing=True))


def record_job_run(job: str, holder: str, started_at: dt.datetime, finished_at: dt.datetime, *,
                   error: str | None = None, items: int = 0) -> None:
    """Write the heartbeat of one finished run (successful when ``error`` is None)."""
    failed = error is not None
    _insert_if_absent(JobHeartbeat, {
        "job": job, "holder": holder, "last_started_at": started_at, "last_finished_at": finished_at,
        "last_status": "ok", "last_duration_seconds": 0.0, "last_items": 0, "runs": 0, "failures": 0,
        "items_total": 0,
    }, "job")
    db.session.execute(
        update(JobHeartbeat).where(JobHeartbeat.job == job).values(
            holder=holder,
            last_started_at=started_at,
            last_finished_at=finished_at,
            last_status="failed" if failed else "ok",
            last_error=error[:2000] if error else None,
            last_duration_seconds=(finished_at - started_at).total_seconds(),
            last_items=items,
            last_success_at=JobHeartbeat.last_success_at if failed else finished_at,
            runs=JobHeartbeat.runs + 1,
            failures=JobHeartbeat.failures + (1 if failed else 0),
            items_total=JobHeartbeat.items_total + items,
        ).execution_options(synchronize_session=False)
    )


def job_heartbeats() -> list[JobHeartbeat]:
    return list(db.session.scalars(select(JobHeartbeat).order_by(JobHeartbeat.job)
                                   .execution_options(populate_existing=True)))
