"""Operators' actions on the outbox: sending failed emails again.

Queueing lives in ``services.notifications`` and delivery in ``incubator.mail``.
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import update

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import OutboundEmail, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.notifications import OUTBOX_DIRTY


def resend_failed(actor: User, email_id: int, now: dt.datetime | None = None) -> OutboundEmail:
    """Put a failed email back in the queue (fresh attempts); refused for any other state."""
    now = now or utcnow()
    result = db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id, OutboundEmail.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, sending_started_at=None)
        .execution_options(synchronize_session=False)
    )
    email = db.session.get(OutboundEmail, email_id)
    if email is None:
        raise ServiceError(_("No such email."))
    if result.rowcount != 1:
        raise ServiceError(_("Only a failed email can be sent again."))
    db.session.refresh(email)
    record_event(actor, "outbox.resend", "outbound_email", email.id, to=email.to_address)
    db.session.info[OUTBOX_DIRTY] = True
    db.session.flush()
    return email


def resend_all_failed(actor: User, now: dt.datetime | None = None) -> int:
    now = now or utcnow()
    result = db.session.execute(
        update(OutboundEmail).where(OutboundEmail.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=now, sending_started_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        record_event(actor, "outbox.resend_all", "outbound_email", None, count=result.rowcount)
        db.session.info[OUTBOX_DIRTY] = True
    db.session.flush()
    return int(result.rowcount or 0)
