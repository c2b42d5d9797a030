"""An application's history as the applicant sees it, from the audit trail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from incubator.models import Application
from incubator.services.visibility import applicant_history


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    label: str
    note: str | None = None


def application_timeline(application: Application) -> list[TimelineEntry]:
    """The steps of the application's life the applicant may know of (see services.visibility)."""
    return [
        TimelineEntry(entry.at, entry.label,
                      (entry.details or {}).get("reason") if entry.action == "application.withdrawn" else None)
        for entry in applicant_history(application)
        if entry.label is not None
    ]
