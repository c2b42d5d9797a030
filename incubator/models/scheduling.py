"""Who leads the scheduler processes, and when each of its jobs last ran."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from incubator.extensions import db


class SchedulerLease(db.Model):
    """One row per lease name; whoever holds an unexpired lease runs the jobs.

    A row with an expiry, not a PostgreSQL advisory lock: it works on SQLite too, survives a
    connection pooler, and its holder and age are plain data for /readyz and /metrics.
    """

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[dt.datetime]
    renewed_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class JobHeartbeat(db.Model):
    """The last run of each scheduler job, and running totals for /metrics."""

    __tablename__ = "job_heartbeats"
    __table_args__ = (
        CheckConstraint("last_status IN ('ok', 'failed')", name="status_known"),
        CheckConstraint("runs >= 0 AND failures >= 0 AND items_total >= 0", name="totals_non_negative"),
    )

    job: Mapped[str] = mapped_column(String(60), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    last_started_at: Mapped[dt.datetime]
    last_finished_at: Mapped[dt.datetime]
    last_status: Mapped[str] = mapped_column(String(10))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_duration_seconds: Mapped[float] = mapped_column(Float)
    # What the run handled (reminders claimed, emails sent, …); 0 when the job counts nothing.
    last_items: Mapped[int] = mapped_column(Integer, default=0)
    last_success_at: Mapped[dt.datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    items_total: Mapped[int] = mapped_column(Integer, default=0)
