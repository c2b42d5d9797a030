"""Conflicts of interest: declared by reviewers, set by managers, detected where obvious.

A conflict removes the reviewer from the application everywhere: the assignment and any
review go, and every query that shows applications to a reviewer filters through
``visible_to_reviewer``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_, delete, exists, or_, select

from incubator.domain.conflicts import detect_conflicts
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Assignment, Conflict, Review, User
from incubator.models.application_scores import refresh_application_scores
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.rows import dialect_insert


def conflict_exists_clause(reviewer_id: int | ColumnElement[int]) -> ColumnElement[bool]:
    """True for applications the reviewer conflicts with, by application or by company."""
    return exists().where(
        Conflict.reviewer_id == reviewer_id,
        or_(
            Conflict.application_id == Application.id,
            and_(Conflict.application_id.is_(None), Conflict.org_number == Application.org_number,
                 Conflict.country == Application.country),
        ),
    ).correlate(Application)  # only the outer application; the outer query may join Conflict too


def visible_to_reviewer(reviewer_id: int) -> ColumnElement[bool]:
    """Filter for Application queries: assigned to the reviewer and not conflicted."""
    assigned = exists().where(
        Assignment.application_id == Application.id, Assignment.reviewer_id == reviewer_id
    ).correlate(Application)  # the outer query may select from Assignment itself
    return and_(assigned, ~conflict_exists_clause(reviewer_id))


def is_conflicted(reviewer_id: int, application: Application) -> bool:
    return bool(db.session.scalar(
        select(conflict_exists_clause(reviewer_id)).select_from(Application).where(Application.id == application.id)
    ))


def reviewer_can_see(reviewer: User, application: Application) -> bool:
    if not reviewer.has_role(Role.REVIEWER):
        return False
    return bool(db.session.scalar(
        select(visible_to_reviewer(reviewer.id)).select_from(Application).where(Application.id == application.id)
    ))


def _remove_reviewer(reviewer_id: int, application_ids: Iterable[int]) -> int:
    ids = list(application_ids)
    if not ids:
        return 0
    db.session.execute(delete(Review).where(Review.reviewer_id == reviewer_id, Review.application_id.in_(ids))
                       .execution_options(synchronize_session=False))
    result = db.session.execute(
        delete(Assignment).where(Assignment.reviewer_id == reviewer_id, Assignment.application_id.in_(ids))
        .execution_options(synchronize_session=False))
    # Bulk deletes pass the unit of work, so the stored statistics are refreshed here.
    refresh_application_scores(db.session.connection(), ids)
    db.session.expire_all()
    return result.rowcount or 0


def _company_application_ids(application: Application) -> list[int]:
    if not application.org_number:
        return [application.id]
    return list(db.session.scalars(select(Application.id).where(
        Application.org_number == application.org_number, Application.country == application.country)))


def record_conflict(actor: User, reviewer: User, application: Application, reason: str, *,
                    source: str, whole_company: bool = False, now: dt.datetime) -> Conflict:
    """Record a conflict and take the reviewer off the application (or the company's)."""
    if not reviewer.has_role(Role.REVIEWER):
        raise ServiceError(_("Conflicts are recorded for reviewers only."))
    if whole_company and not application.org_number:
        raise ServiceError(_("This company has no organisation number yet; declare the conflict for this application."))
    reason = reason.strip()
    if source != "detected" and not reason:
        raise ServiceError(_("Say briefly why there is a conflict."), field="reason")
    same = select(Conflict).where(
        Conflict.reviewer_id == reviewer.id,
        (Conflict.org_number == application.org_number) & (Conflict.country == application.country)
        if whole_company else Conflict.application_id == application.id,
    )
    existing = db.session.scalar(same)
    if existing is not None:
        return existing
    # The same conflict declared at the same moment elsewhere (two tabs, reviewer and manager):
    # the loser's insert does nothing and it returns the winner's row instead of a 500.
    inserted = db.session.scalar(
        dialect_insert(Conflict).values(
            reviewer_id=reviewer.id,
            application_id=None if whole_company else application.id,
            country=application.country if whole_company else None,
            org_number=application.org_number if whole_company else None,
            reason=reason, source=source, created_by_id=actor.id, created_at=now,
        ).on_conflict_do_nothing(
            index_elements=["reviewer_id", "country", "org_number"] if whole_company
            else ["reviewer_id", "application_id"],
        ).returning(Conflict.id)
    )
    if inserted is None:
        return db.session.scalars(same).one()
    conflict = db.session.get_one(Conflict, inserted)
    removed = _remove_reviewer(reviewer.id, _company_application_ids(application) if whole_company else [application.id])
    record_event(actor, f"conflict.{source}", "application", application.id, reviewer_id=reviewer.id,
                 whole_company=whole_company, assignments_removed=removed)
    return conflict


def declare_conflict(reviewer: User, application: Application, reason: str, *, whole_company: bool,
                     now: dt.datetime) -> Conflict:
    """A reviewer declares a conflict with an application they were assigned."""
    if not reviewer_can_see(reviewer, application):
        raise ServiceError(_("You are not assigned to this application."))
    return record_conflict(reviewer, reviewer, application, reason, source="declared",
                           whole_company=whole_company, now=now)


def set_conflict_by_manager(manager: User, reviewer: User, application: Application, reason: str, *,
                            whole_company: bool, now: dt.datetime) -> Conflict:
    return record_conflict(manager, reviewer, application, reason, source="manager",
                           whole_company=whole_company, now=now)


def record_detected_conflicts(actor: User, reviewers: Sequence[User], applications: Sequence[Application],
                              now: dt.datetime) -> list[Conflict]:
    """Detect obvious conflicts (email domain, affiliation) between these reviewers and applications."""
    by_id = {application.id: application for application in applications}
    people = {reviewer.id: reviewer for reviewer in reviewers}
    pairs = detect_conflicts(
        [(reviewer.id, reviewer.email, reviewer.affiliation) for reviewer in reviewers],
        [(application.id, application.company_name, application.website) for application in applications],
    )
    found = []
    for reviewer_id, application_id, reason in pairs:
        application = by_id[application_id]
        if not is_conflicted(reviewer_id, application):
            found.append(record_conflict(actor, people[reviewer_id], application, reason, source="detected", now=now))
    return found


def conflicts_of_call(call_id: int) -> Sequence[Conflict]:
    in_call = select(Application.id).where(
        Application.call_id == call_id,
        or_(Application.id == Conflict.application_id,
            and_(Conflict.application_id.is_(None), Application.org_number == Conflict.org_number,
                 Application.country == Conflict.country)),
    ).correlate(Conflict)
    return db.session.scalars(select(Conflict).where(exists(in_call)).order_by(Conflict.created_at.desc())).all()
