"""What a calendar feed shows: a reviewer's review deadlines, or every call's milestones."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, func, select

from incubator.domain.applications import IN_REVIEW_STATES
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import Application, Assignment, Call, Review, User
from incubator.services.notifications import outside_request_context

IN_REVIEW = [state.value for state in IN_REVIEW_STATES]


@dataclass(frozen=True)
class CalendarEvent:
    uid: str
    summary: str
    starts: dt.datetime | dt.date
    description: str = ""
    url: str = ""


def reviewer_calendar(user: User) -> list[CalendarEvent]:
    """The reviewer's review deadlines: one event per assignment, at its due time (UTC)."""
    due = func.coalesce(Assignment.due_at, Call.review_deadline)
    rows = db.session.execute(
        select(Assignment.id, Application.id, Application.company_name, Call.title, due, Review.state)
        .join(Application, Application.id == Assignment.application_id)
        .join(Call, Call.id == Application.call_id)
        .outerjoin(Review, and_(Review.application_id == Assignment.application_id,
                                Review.reviewer_id == Assignment.reviewer_id))
        .where(Assignment.reviewer_id == user.id, due.is_not(None), Application.state.in_(IN_REVIEW))
        .order_by(due, Assignment.id)
    ).all()
    events = []
    with outside_request_context():
        for assignment_id, application_id, company, title, due_at, state in rows:
            name = company or f"#{application_id}"
            done = " ✓" if state == "submitted" else ""
            events.append(CalendarEvent(
                uid=f"review-{assignment_id}", starts=due_at,
                summary=_("Review due: %(name)s", name=name) + done, description=title,
                url=public_url("review.application", application_id=application_id)))
    return events


def manager_calendar() -> list[CalendarEvent]:
    """Every call's milestones: opens, closes, reviews due, decision date."""
    calls = db.session.scalars(select(Call).order_by(Call.opens_at)).all()
    events: list[CalendarEvent] = []
    with outside_request_context():
        for call in calls:
            link = public_url("manage.call_hub", call_id=call.id)
            milestones: list[tuple[str, dt.datetime | dt.date | None, str]] = [
                ("opens", call.opens_at, _("Call opens: %(call)s", call=call.title)),
                ("closes", call.closes_at, _("Call closes: %(call)s", call=call.title)),
                ("reviews", call.review_deadline, _("Reviews due: %(call)s", call=call.title)),
                ("decision", call.decision_date, _("Decisions: %(call)s", call=call.title)),
            ]
            for slug, when, summary in milestones:
                if when is not None:
                    events.append(CalendarEvent(uid=f"call-{call.id}-{slug}", starts=when,
                                                summary=summary, url=link))
    return events
