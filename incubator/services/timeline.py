"""An application's history as the applicant sees it, from the audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from incubator.extensions import db
from incubator.models import Application, AuditEvent

# Only these events are the applicant's business; the rest stays in the audit log.
VISIBLE_EVENTS = {
    "application.started": "Draft started",
    "application.submitted": "Submitted",
    "application.under_review": "Under review",
    "application.decided": "Decided",
    "application.withdrawn": "Withdrawn",
}


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    label: str
    note: str | None = None


def application_timeline(application: Application) -> list[TimelineEntry]:
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "application", AuditEvent.subject_id == application.id,
               AuditEvent.action.in_(VISIBLE_EVENTS))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    ).all()
    return [
        TimelineEntry(event.created_at, VISIBLE_EVENTS[event.action],
                      (event.details or {}).get("reason") if event.action == "application.withdrawn" else None)
        for event in events
    ]
