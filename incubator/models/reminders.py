"""Reminder policies per call, the ledger of reminders sent, and each person's mail preferences."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.domain.reminders import KINDS, ReminderPolicy
from incubator.extensions import db
from incubator.models.programmes import Call

KIND_VALUES = ", ".join(f"'{kind}'" for kind in KINDS)


class CallReminderPolicy(db.Model):
    """A call's reminder schedule; a call without a row uses ``domain.reminders.DEFAULT_POLICY``."""

    __tablename__ = "reminder_policies"
    __table_args__ = (
        CheckConstraint("overdue_every_days >= 1", name="overdue_every_positive"),
        CheckConstraint("overdue_max >= 0", name="overdue_max_non_negative"),
        CheckConstraint("escalate_with_overdue >= 0 AND escalate_with_overdue <= overdue_max",
                        name="escalation_within_overdue"),
        CheckConstraint("manager_digest_weekday IS NULL OR (manager_digest_weekday >= 0 AND manager_digest_weekday <= 6)",
                        name="digest_weekday_known"),
        CheckConstraint("manager_digest_hour >= 0 AND manager_digest_hour <= 23", name="digest_hour_in_day"),
    )

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    reviewer_days_before: Mapped[list[int]] = mapped_column(JSON, default=lambda: [7, 2, 1])
    overdue_every_days: Mapped[int] = mapped_column(Integer, default=2)
    overdue_max: Mapped[int] = mapped_column(Integer, default=3)
    escalate_with_overdue: Mapped[int] = mapped_column(Integer, default=1)
    applicant_days_before: Mapped[list[int]] = mapped_column(JSON, default=lambda: [3, 1])
    manager_digest_weekday: Mapped[int | None] = mapped_column(Integer)
    manager_digest_hour: Mapped[int] = mapped_column(Integer, default=8)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    call: Mapped[Call] = relationship()

    def to_policy(self) -> ReminderPolicy:
        return ReminderPolicy(
            enabled=self.enabled,
            reviewer_days_before=tuple(self.reviewer_days_before or ()),
            overdue_every_days=self.overdue_every_days,
            overdue_max=self.overdue_max,
            escalate_with_overdue=self.escalate_with_overdue,
            applicant_days_before=tuple(self.applicant_days_before or ()),
            manager_digest_weekday=self.manager_digest_weekday,
            manager_digest_hour=self.manager_digest_hour,
        )


class SentReminder(db.Model):
    """One reminder, claimed once: the unique ``key`` makes "sent once" a database fact.

    A sweep inserts the keys it found due with ON CONFLICT DO NOTHING and mails only those it
    won, in one digest per recipient (``outbound_emails.dedupe_key`` =
    ``reminders:<recipient>:<sweep>``), in the same transaction as the outbox rows.
    """

    __tablename__ = "sent_reminders"
    __table_args__ = (
        CheckConstraint(f"kind IN ({KIND_VALUES})", name="kind_known"),
        Index("ix_sent_reminders_created", "created_at"),
        Index("ix_sent_reminders_recipient", "recipient_id", "sweep_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(Integer)
    occasion: Mapped[str] = mapped_column(String(60))
    sweep_id: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NotificationPreference(db.Model):
    """Per person: unsubscribed from non-essential mail, and the secret of their calendar feed.

    The feed URL's token is an HMAC of the user id and ``calendar_nonce`` under the secret key,
    so the database alone does not reveal it; a new nonce revokes the old URL.
    """

    __tablename__ = "notification_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    unsubscribed_at: Mapped[dt.datetime | None]
    calendar_nonce: Mapped[str | None] = mapped_column(String(64))
    calendar_created_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
