"""The outbox: emails are rendered and stored as rows in the caller's transaction.

Nothing is sent here. Delivery happens after the transaction commits (see incubator.mail), so
an email never announces a change that was rolled back, and a failed send never undoes one.
"""

from __future__ import annotations

from typing import Any

from flask import render_template

from incubator.extensions import db
from incubator.models import OutboundEmail

OUTBOX_DIRTY = "outbox_dirty"


def queue_email(
    to_address: str,
    subject: str,
    template: str,
    *,
    kind: str,
    dedupe_key: str | None = None,
    **context: Any,
) -> OutboundEmail:
    """Render ``templates/emails/<template>.txt`` (and ``.html`` when present) into the outbox."""
    body_text = render_template(f"emails/{template}.txt", subject=subject, **context)
    email = OutboundEmail(
        to_address=to_address,
        subject=subject,
        body_text=body_text,
        body_html=None,
        kind=kind,
        dedupe_key=dedupe_key,
    )
    db.session.add(email)
    db.session.flush()
    # Tells the request's commit hook that there is mail to hand to the deliverer.
    db.session.info[OUTBOX_DIRTY] = True
    return email
