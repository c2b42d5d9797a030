"""Every email the service sends, as a row written in the transaction that causes it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from incubator.database import utcnow
from incubator.extensions import db

OUTBOX_STATES = ("pending", "sending", "sent", "failed")
OUTBOX_STATE_VALUES = ", ".join(f"'{state}'" for state in OUTBOX_STATES)


class OutboundEmail(db.Model):
    __tablename__ = "outbound_emails"
    __table_args__ = (
        CheckConstraint(f"status IN ({OUTBOX_STATE_VALUES})", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_outbound_emails_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A deterministic key (e.g. a reminder's kind, recipient and occasion) under a unique
    # constraint makes "send once" a database fact rather than a hope.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(250))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sending_started_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
