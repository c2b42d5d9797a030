"""Notification preferences: whether a person gets non-essential email (reminders) at all.

Essential email (decisions, offers, account security) ignores these; see
``notifications.NON_ESSENTIAL_KINDS``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import User
from incubator.models.reminders import NotificationPreference
from incubator.services.audit import record_event
from incubator.services.rows import get_or_create


def preferences_of(user: User) -> NotificationPreference:
    return get_or_create(NotificationPreference, user_id=user.id)  # two first saves at once: no 500


def is_unsubscribed(user: User) -> bool:
    row = db.session.get(NotificationPreference, user.id)
    return row is not None and row.unsubscribed_at is not None


def unsubscribe(user: User, now: dt.datetime | None = None) -> None:
    row = preferences_of(user)
    if row.unsubscribed_at is None:
        row.unsubscribed_at = now or utcnow()
        row.updated_at = utcnow()
        record_event(user, "notifications.unsubscribed", "user", user.id)
    db.session.flush()


def resubscribe(user: User) -> None:
    row = preferences_of(user)
    if row.unsubscribed_at is not None:
        row.unsubscribed_at = None
        row.updated_at = utcnow()
        record_event(user, "notifications.resubscribed", "user", user.id)
    db.session.flush()


def user_by_address(address: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == address.lower()))
