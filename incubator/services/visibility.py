"""What an applicant may see of their own application: the one place that decides it.

Until a decision is released it is the committee's working state: reversible, and nobody
outside the committee may learn it. So before release the applicant sees "under review" and
nothing of the decision (no message, no time, no decider), and never anything of the committee's
work (assignments, conflicts, reviews, scores, recorded or undone decisions). Every surface the
applicant reaches (application page, dashboard, call page, timeline, privacy page, data export,
emails) reads an application through ``applicant_view`` and its history through
``applicant_history``, so a new surface cannot forget a rule by re-implementing it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from incubator.domain.applications import DECIDED_STATES, IN_REVIEW_STATES, ApplicationState
from incubator.extensions import db
from incubator.models import Application, AuditEvent

# Events done by others that the applicant may see: the steps of their own application's
# life. "application.decided" is recorded only when a decision is released. Everything else
# staff record (assignments, conflicts, reviews, decisions recorded or undone) stays in the
# audit log.
RELEASED_EVENTS: dict[str, str] = {
    "application.started": "Draft started",
    "application.submitted": "Submitted",
    "application.under_review": "Under review",
    "application.decided": "Decided",
    "application.withdrawn": "Withdrawn",
}


@dataclass(frozen=True)
class ApplicantView:
    """An application as its applicant may know it; plain data, safe to render or export."""

    application_id: int
    state: str
    decision_released: bool
    decision_message: str | None
    decided_at: dt.datetime | None
    decision_released_at: dt.datetime | None

    @property
    def in_review(self) -> bool:
        """A committee is still looking at it (erasure waits, withdrawal is possible)."""
        return ApplicationState(self.state) in IN_REVIEW_STATES


def applicant_view(application: Application, *, assume_released: bool = False) -> ApplicantView:
    """``assume_released`` shows what the applicant will see once the decision is released (the
    managers' release preview); nothing the applicant reaches may pass it."""
    released = assume_released or application.decision_released_at is not None
    hidden_decision = application.state_enum in DECIDED_STATES and not released
    return ApplicantView(
        application_id=application.id,
        state=ApplicationState.UNDER_REVIEW.value if hidden_decision else application.state,
        decision_released=released,
        decision_message=application.decision_message if released else None,
        decided_at=application.decided_at if released else None,
        decision_released_at=application.decision_released_at,
    )


@dataclass(frozen=True)
class HistoryEntry:
    at: dt.datetime
    action: str
    label: str | None  # for the timeline; None for the applicant's own other actions
    own: bool
    details: dict[str, Any] | None  # only for the applicant's own events
    ip_address: str | None  # idem


def _own_details(details: dict[str, Any] | None) -> dict[str, Any]:
    # The state an event found is the committee's record: withdrawing with a decision recorded
    # but unreleased would otherwise name that decision in the applicant's own history.
    return {key: value for key, value in (details or {}).items() if key != "previous_state"}


def applicant_history(application: Application) -> list[HistoryEntry]:
    """The team's own events on the application and the released steps, oldest first."""
    team = [application.applicant_id, *(member.user_id for member in application.members)]
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.subject_type == "application", AuditEvent.subject_id == application.id,
               or_(AuditEvent.actor_id.in_(team), AuditEvent.action.in_(RELEASED_EVENTS)))
        .order_by(AuditEvent.created_at, AuditEvent.id)
    )
    history = []
    for event in events:
        own = event.actor_id in team  # the team's own steps, not staff's
        history.append(HistoryEntry(
            at=event.created_at, action=event.action, label=RELEASED_EVENTS.get(event.action), own=own,
            # What staff recorded about their own work is theirs, not the applicant's.
            details=_own_details(event.details) if own else None, ip_address=event.ip_address if own else None,
        ))
    return history
