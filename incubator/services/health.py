"""What /readyz and /metrics report: the database, migrations, the scheduler and the outbox.

Everything is read from the database at the moment of asking, so every web worker on every
host gives the same answer without sharing memory.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from incubator.extensions import db
from incubator.models import JobHeartbeat, OutboundEmail
from incubator.services.scheduling import current_lease, job_heartbeats

log = logging.getLogger("incubator.health")


@dataclass(frozen=True)
class SchedulerState:
    leader: str | None
    renewed_seconds_ago: float | None
    lease_expires_in: float | None
    fresh: bool


@dataclass(frozen=True)
class OutboxState:
    by_status: dict[str, int]
    oldest_due_seconds: float  # how long the most overdue pending email has waited; 0 if none

    @property
    def pending(self) -> int:
        return self.by_status.get("pending", 0)

    @property
    def failed(self) -> int:
        return self.by_status.get("failed", 0)


@dataclass(frozen=True)
class Readiness:
    database: bool
    migrations_current: list[str] = field(default_factory=list)
    migrations_head: list[str] = field(default_factory=list)
    scheduler: SchedulerState | None = None
    outbox: OutboxState | None = None
    jobs: list[JobHeartbeat] = field(default_factory=list)
    outbox_max_delay: float = 0

    @property
    def migrations_ok(self) -> bool:
        return self.database and sorted(self.migrations_current) == sorted(self.migrations_head)

    @property
    def outbox_ok(self) -> bool:
        return self.outbox is not None and self.outbox.oldest_due_seconds <= self.outbox_max_delay

    @property
    def ready(self) -> bool:
        return (self.database and self.migrations_ok and self.scheduler is not None and self.scheduler.fresh
                and self.outbox_ok)


@functools.cache
def migration_heads(directory: str) -> tuple[str, ...]:
    """The head revisions shipped with this code (read once per process; the files do not change)."""
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory(directory).get_heads())


def applied_migrations() -> list[str]:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(db.session.connection())
    return list(context.get_current_heads())


def scheduler_state(now: dt.datetime, stale_after: float) -> SchedulerState:
    lease = current_lease()
    if lease is None:
        return SchedulerState(leader=None, renewed_seconds_ago=None, lease_expires_in=None, fresh=False)
    age = (now - lease.renewed_at).total_seconds()
    expires_in = (lease.expires_at - now).total_seconds()
    return SchedulerState(leader=lease.holder, renewed_seconds_ago=age, lease_expires_in=expires_in,
                          fresh=age <= stale_after and expires_in > 0)


def outbox_state(now: dt.datetime) -> OutboxState:
    counts = dict(db.session.execute(
        select(OutboundEmail.status, func.count()).group_by(OutboundEmail.status)).tuples().all())
    oldest_due = db.session.scalar(select(func.min(OutboundEmail.next_attempt_at))
                                   .where(OutboundEmail.status == "pending", OutboundEmail.next_attempt_at <= now))
    waited = max((now - oldest_due).total_seconds(), 0.0) if oldest_due is not None else 0.0
    return OutboxState(by_status={str(k): int(v) for k, v in counts.items()}, oldest_due_seconds=waited)


def check_readiness(now: dt.datetime, migrations_dir: Path, stale_after: float, outbox_max_delay: float) -> Readiness:
    """Every check at once; an unreachable database fails them all, without raising."""
    try:
        db.session.execute(text("SELECT 1"))
        return Readiness(
            database=True,
            migrations_current=applied_migrations(),
            migrations_head=list(migration_heads(str(migrations_dir))),
            scheduler=scheduler_state(now, stale_after),
            outbox=outbox_state(now),
            jobs=job_heartbeats(),
            outbox_max_delay=outbox_max_delay,
        )
    except SQLAlchemyError:
        log.warning("readiness: the database cannot be queried", exc_info=True)
        db.session.rollback()
        return Readiness(database=False, outbox_max_delay=outbox_max_delay)


def readiness_report(readiness: Readiness) -> dict[str, Any]:
    """The JSON body of /readyz."""
    report: dict[str, Any] = {
        "status": "ready" if readiness.ready else "not ready",
        "database": {"ok": readiness.database},
        "migrations": {"ok": readiness.migrations_ok, "current": readiness.migrations_current,
                       "head": readiness.migrations_head},
    }
    scheduler = readiness.scheduler
    report["scheduler"] = {
        "ok": bool(scheduler and scheduler.fresh),
        "leader": scheduler.leader if scheduler else None,
        "renewed_seconds_ago": round(scheduler.renewed_seconds_ago, 3)
        if scheduler and scheduler.renewed_seconds_ago is not None else None,
        "jobs": {job.job: {"status": job.last_status, "finished_at": job.last_finished_at.isoformat(),
                           "holder": job.holder} for job in readiness.jobs},
    }
    outbox = readiness.outbox
    report["outbox"] = {
        "ok": readiness.outbox_ok,
        "pending": outbox.pending if outbox else None,
        "failed": outbox.failed if outbox else None,
        "oldest_due_seconds": round(outbox.oldest_due_seconds, 3) if outbox else None,
    }
    return report
