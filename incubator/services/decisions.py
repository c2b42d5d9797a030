"""Committee decisions: accept, waitlist or reject; reversible until released to applicants.

A decision first changes only the application's state (the committee's working view). Releasing
makes it final: the decision email goes to the applicant through the outbox, quoting the
reviewers' comments for the applicant when the manager chose so, and the applicant's status
page shows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import render_template
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import case, func, literal_column, select

from incubator.domain.applications import DECIDED_STATES, ApplicationState
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import Application, CommitteeNote, Review, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.membership import dedupe_for, recipients
from incubator.services.notifications import call_title, queue_email
from incubator.services.visibility import applicant_view

DECISIONS = (ApplicationState.ACCEPTED, ApplicationState.WAITLISTED, ApplicationState.REJECTED)
DECIDABLE_STATES = frozenset({ApplicationState.SUBMITTED, ApplicationState.UNDER_REVIEW}) | DECIDED_STATES
DECISIONS_PER_PAGE = 50


def decision_page(call_id: int, *, search: str = "", state: ApplicationState | None = None, page: int = 1,
                  per_page: int = DECISIONS_PER_PAGE) -> Pagination:
    """One page of a call's decidable applications by company name, searched and filtered in SQL.

    A call may hold 100,000 applications: the page reads ``per_page`` rows, never the call.
    """
    states = [state.value] if state in DECIDABLE_STATES else [s.value for s in DECIDABLE_STATES]
    query = select(Application).where(Application.call_id == call_id, Application.state.in_(states))
    if search:
        named = func.lower(Application.company_name).contains(search.lower(), autoescape=True)
        query = query.where(named)
    # In the order ix_applications_call_name holds (NULL names as '', written inline so the
    # expression is the indexed one): a page reads its rows from the index and stops, instead
    # of sorting the whole call (36 ms at 100,000 applications on PostgreSQL).
    query = query.order_by(func.coalesce(Application.company_name, literal_column("''")), Application.id)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def unreleased_count(call_id: int) -> int:
    """Decided applications of the call whose decision has not reached the applicant yet.

    Read from ix_applications_call_state_released alone: the few unreleased entries, not every
    decided application's row (most of them released, in a call that has released)."""
    return db.session.scalar(
        select(func.count()).select_from(Application)
        .where(Application.call_id == call_id, Application.decision_released_at.is_(None),
               Application.state.in_([s.value for s in DECIDED_STATES]))
    ) or 0


@dataclass(frozen=True)
class ReleaseKind:
    """One decision's line of the release preview: how many, how many emails, one sample."""

    state: str
    decided: int
    emails: int
    sample: tuple[str, str] | None


def release_summary(call_id: int) -> list[ReleaseKind]:
    """Per decision: the unreleased applications, those whose applicant gets the email (an
    active account), and that email for the first of them as it will be sent. Counted in
    the database (one grouped query), one application loaded per decision for its sample."""
    unreleased = (Application.call_id == call_id, Application.decision_released_at.is_(None))
    counts = {state: (decided, int(emails or 0)) for state, decided, emails in db.session.execute(
        select(Application.state, func.count(), func.sum(case((User.active.is_(True), 1), else_=0)))
        .join(User, User.id == Application.applicant_id)
        .where(*unreleased, Application.state.in_([decision.value for decision in DECISIONS]))
        .group_by(Application.state))}
    kinds = []
    for decision in DECISIONS:
        decided, emails = counts.get(decision.value, (0, 0))
        first = db.session.scalars(
            select(Application).join(User, User.id == Application.applicant_id)
            .where(*unreleased, Application.state == decision.value, User.active.is_(True))
            .order_by(Application.company_name, Application.id).limit(1)).first() if emails else None
        kinds.append(ReleaseKind(decision.value, decided, emails,
                                 render_decision_email(first) if first is not None else None))
    return kinds


def _ensure_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers decide on applications."))


def decide(manager: User, application: Application, decision: ApplicationState, *, message: str = "",
           share_reviewer_comments: bool = False, now: dt.datetime) -> None:
    """Record (or change) the committee's decision; nothing is sent yet."""
    _ensure_manager(manager)
    if decision not in DECISIONS:
        raise ServiceError(_("Choose accept, waitlist or reject."), field="decision")
    if application.decision_released_at is not None:
        raise ServiceError(_("This decision was released to the applicant and can no longer be changed."))
    if application.state_enum not in DECIDABLE_STATES:
        raise ServiceError("Only submitted applications can be decided; this one is "
                           f"{application.state.replace('_', ' ')}.")
    previous = application.state
    application.state = decision.value
    application.decided_at = now
    application.decided_by_id = manager.id
    application.decision_message = message.strip() or None
    application.share_reviewer_comments = share_reviewer_comments
    application.updated_at = now
    record_event(manager, "application.decision_recorded", "application", application.id,
                 previous_state=previous, decision=decision.value)


def undo_decision(manager: User, application: Application, now: dt.datetime) -> None:
    """Back to review, as long as the applicant has not been told."""
    _ensure_manager(manager)
    if application.decision_released_at is not None:
        raise ServiceError(_("This decision was released to the applicant and can no longer be changed."))
    if application.state_enum not in DECIDED_STATES:
        raise ServiceError(_("This application has no decision to undo."))
    previous = application.state
    application.state = ApplicationState.UNDER_REVIEW.value
    application.decided_at = application.decided_by_id = application.decision_message = None
    application.share_reviewer_comments = False
    application.updated_at = now
    record_event(manager, "application.decision_undone", "application", application.id, previous_state=previous)


@dataclass(frozen=True)
class ReleaseReport:
    released: list[int]
    skipped: list[int]


def release_decisions(manager: User, applications: Sequence[Application], now: dt.datetime) -> ReleaseReport:
    """Tell applicants their decisions, once: each email goes through the outbox with a
    dedupe key, so a double click or a retry never sends two."""
    _ensure_manager(manager)
    released, skipped = [], []
    for application in applications:
        if application.state_enum not in DECIDED_STATES or application.decision_released_at is not None:
            skipped.append(application.id)
            continue
        application.decision_released_at = now
        _queue_decision_email(application)
        record_event(manager, "application.decided", "application", application.id, decision=application.state)
        released.append(application.id)
    db.session.flush()
    return ReleaseReport(released, skipped)


def comments_for_applicant(application: Application) -> list[str]:
    return [comment for comment in db.session.scalars(
        select(Review.comment_applicant)
        .where(Review.application_id == application.id, Review.state == "submitted")
        .order_by(Review.id)
    ) if comment and comment.strip()]


DECISION_SUBJECTS = {
    "accepted": _l("Your residency application is accepted"),
    "waitlisted": _l("Your residency application is on the waiting list"),
    "rejected": _l("Decision on your residency application"),
}


def _shared_note(application: Application) -> str:
    note = db.session.get(CommitteeNote, application.id)
    return note.shared if note is not None else ""


def decision_email_parts(application: Application, *, preview: bool = False) -> tuple[LazyString, dict[str, Any]]:
    """The subject and template context of an application's decision email.

    One function for the email that is sent and for the release preview, so the preview
    shows exactly what will go out. It reads the application through ``applicant_view`` (as it
    will look once released, for the preview), so the email says only what the applicant may
    know; the committee's internal note is never part of it.
    """
    view = applicant_view(application, assume_released=preview)
    if not view.decision_released:
        raise RuntimeError("a decision email is written only for a released decision")
    # Lazy, so it is worded in the recipient's language where the email is rendered.
    title, state = call_title(application.call), view.state
    subject = LazyString(lambda: f"{DECISION_SUBJECTS[state]}: {title}")
    return subject, {
        "application": application,
        "view": view,
        "comments": comments_for_applicant(application) if application.share_reviewer_comments else [],
        "shared_note": _shared_note(application),
        "link": public_url("apply.show_application", application_id=application.id),
    }


def render_decision_email(application: Application) -> tuple[str, str]:
    """(subject, body) of the decision email as it would be sent now; nothing is queued."""
    subject, context = decision_email_parts(application, preview=True)
    # The preview shows the email in the language the applicant will receive it in.
    with force_locale(application.applicant.locale or str(get_locale())):
        text = str(subject)
        return text, render_template("emails/decision.txt", subject=text, user=application.applicant, **context)


def _queue_decision_email(application: Application) -> None:
    subject, context = decision_email_parts(application)
    # Every member of the team; erased or deactivated accounts have no one to tell.
    for person in recipients(application):
        queue_email(person.email, subject, "decision", kind="decision",
                    dedupe_key=dedupe_for(f"decision:{application.id}", person, application),
                    locale=person.locale, user=person, **context)
