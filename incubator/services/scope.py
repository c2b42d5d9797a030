"""Staff scoped to programmes: the one place that limits what a partner's staff may see.

A manager or reviewer may be limited to some programmes (``ProgrammeScope`` rows, set by an
administrator): a BioVentureHub manager sees only the applications, reviews, slots, offers,
residencies and calls of BioVentureHub programmes. Staff without rows, administrators and
applicants are unscoped.

The scope of the signed-in person is read once per request (``load_request_scope``, a
``before_request`` hook) and kept in ``flask.g``; the scheduler and the command line never set
it, so they always see everything. A ``do_orm_execute`` listener adds the scope to every ORM
query as loader criteria, so a page cannot forget it: an object out of scope is simply not
found (404). Queries that bypass the ORM (Core on the session's connection, as the ranking
board does) add ``application_scope_clause`` themselves.

An application is in scope if any programme it ranked is, or the slot of its offer or
residency is: an applicant ranking both programmes is seen by both partners.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import g, has_app_context, request
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, delete, event, or_, select, true, union
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Attachment,
    Bid,
    Call,
    CallProgramme,
    CallReviewer,
    CommitteeComment,
    CommitteeNote,
    Conflict,
    MatchPlacement,
    MatchRun,
    Offer,
    Partner,
    Programme,
    ProgrammePreference,
    ProgrammeScope,
    QuestionAnswer,
    Residency,
    Review,
    Score,
    Slot,
    User,
)
from incubator.services import ServiceError
from incubator.services.audit import record_event

_SCOPE_KEY = "programme_scope"
# The scope rows the user loader read with the session (services.sessions.live_session).
_LOADED_KEY = "programme_scope_loaded"
# Roles an administrator may scope; administrators always keep the whole picture.
SCOPABLE_ROLES = (Role.MANAGER, Role.REVIEWER)

# Core tables, so the subqueries below are not themselves filtered by the loader criteria; and
# never correlated, so a query that joins the same table cannot change what they mean.
_slots = Slot.__table__
_preferences = ProgrammePreference.__table__
_offers = Offer.__table__
_residencies = Residency.__table__
_call_programmes = CallProgramme.__table__
_reviews = Review.__table__
_scopes = ProgrammeScope.__table__


# ------------------------------------------------------------------------ whose scope


def programmes_of(user: User, scope_rows: frozenset[int] | None = None) -> frozenset[int] | None:
    """The programmes ``user`` is limited to, or None for the whole picture; ``scope_rows``:
    their ``ProgrammeScope`` programme ids when already read (else they are read here)."""
    if user.role_enum not in SCOPABLE_ROLES:
        return None
    if scope_rows is None:
        scope_rows = frozenset(db.session.scalars(
            select(ProgrammeScope.programme_id).where(ProgrammeScope.user_id == user.id)))
    return scope_rows or None


def note_loaded_scope(user_id: int, scope_rows: frozenset[int]) -> None:
    """The user loader read this user's scope rows in its own statement: no second query."""
    setattr(g, _LOADED_KEY, (user_id, scope_rows))


def load_request_scope() -> None:
    """``before_request``: remember the signed-in person's scope for this request's queries."""
    from flask_login import current_user

    g.pop(_SCOPE_KEY, None)  # unscoped while the scope itself is read
    g.pop(_LOADED_KEY, None)
    if (request.endpoint or "").endswith("static"):
        return  # files are the same for everyone; no need to load the user for them
    if current_user.is_authenticated:
        loaded_for, scope_rows = g.pop(_LOADED_KEY, (None, None))
        known = scope_rows if loaded_for == current_user.id else None  # signed in by this request: read
        setattr(g, _SCOPE_KEY, programmes_of(current_user, known))


def current_scope() -> frozenset[int] | None:
    """The programmes this request is limited to; None outside requests and for unscoped staff."""
    if not has_app_context():
        return None
    scope: frozenset[int] | None = g.get(_SCOPE_KEY)
    return scope


@contextmanager
def limited_to(programme_ids: Collection[int]) -> Iterator[None]:
    """Run queries as a person limited to ``programme_ids`` would (benchmarks, a future job
    acting for a partner); the request's own scope is back afterwards."""
    previous = g.pop(_SCOPE_KEY, None)
    setattr(g, _SCOPE_KEY, frozenset(programme_ids))
    try:
        yield
    finally:
        g.pop(_SCOPE_KEY, None)
        if previous is not None:
            setattr(g, _SCOPE_KEY, previous)


def is_scoped() -> bool:
    return current_scope() is not None


def programme_choices() -> list[tuple[int, str]]:
    """Every programme as "Partner: Programme", for the administrator's form (a few dozen)."""
    rows = db.session.execute(
        select(Programme.id, Programme.name, Partner.name).outerjoin(Partner, Partner.id == Programme.partner_id)
        .order_by(Partner.name, Programme.name)
    )
    return [(programme_id, f"{partner}: {name}" if partner else name) for programme_id, name, partner in rows]


def set_scope(admin: User, user: User, programme_ids: Iterable[int]) -> None:
    """Limit ``user`` to ``programme_ids`` (empty: the whole picture again)."""
    wanted = set(programme_ids)
    if wanted and user.role_enum not in SCOPABLE_ROLES:
        raise ServiceError(_("Only programme managers and reviewers can be limited to programmes."),
                           field="programmes")
    existing = set(db.session.scalars(select(ProgrammeScope.programme_id).where(ProgrammeScope.user_id == user.id)))
    if wanted == existing:
        return
    db.session.execute(delete(ProgrammeScope).where(ProgrammeScope.user_id == user.id,
                                                    ProgrammeScope.programme_id.not_in(wanted)))
    db.session.add_all(ProgrammeScope(user_id=user.id, programme_id=programme_id)
                       for programme_id in sorted(wanted - existing))
    record_event(admin, "account.scope_changed", "user", user.id, programmes=sorted(wanted))


# ------------------------------------------------------------------------ the clauses


def _scoped_slot_ids(programme_ids: Collection[int]) -> Any:
    return select(_slots.c.id).where(_slots.c.programme_id.in_(programme_ids)).correlate(None)


def applications_in(programme_ids: Collection[int], application_id: Any) -> ColumnElement[bool]:
    """True where ``application_id`` names an application ranking one of the programmes, or
    holding an offer or a residency in one of their slots."""
    slots = _scoped_slot_ids(programme_ids)
    return or_(
        application_id.in_(select(_preferences.c.application_id)
                           .where(_preferences.c.programme_id.in_(programme_ids)).correlate(None)),
        application_id.in_(select(_offers.c.application_id).where(_offers.c.slot_id.in_(slots)).correlate(None)),
        application_id.in_(select(_residencies.c.application_id).where(_residencies.c.slot_id.in_(slots))
                           .correlate(None)),
    )


def application_scope_clause(application_id: Any) -> ColumnElement[bool]:
    """The scope of this request for a query the ORM does not see (Core on a connection):
    ``.where(application_scope_clause(Application.id))``; always true when unscoped."""
    scope = current_scope()
    return true() if scope is None else applications_in(scope, application_id)


def programmes_of_application(application_id: int) -> frozenset[int]:
    """The programmes an application concerns (those it ranked, and the programmes of its
    offers' and residency's slots): whose limited staff may see and review it."""
    slot_programme = select(_slots.c.programme_id)
    rows = db.session.scalars(union(
        select(_preferences.c.programme_id).where(_preferences.c.application_id == application_id),
        slot_programme.join(_offers, _offers.c.slot_id == _slots.c.id).where(_offers.c.application_id == application_id),
        slot_programme.join(_residencies, _residencies.c.slot_id == _slots.c.id)
        .where(_residencies.c.application_id == application_id),
    ))
    return frozenset(rows)


def staff_covering(user_id: Any, programme_ids: Collection[int]) -> ColumnElement[bool]:
    """True where ``user_id`` names someone unlimited, or limited to one of ``programme_ids``."""
    limited = select(_scopes.c.user_id).correlate(None)
    return or_(user_id.not_in(limited),
               user_id.in_(limited.where(_scopes.c.programme_id.in_(sorted(programme_ids)))))


def _calls_in(programme_ids: Collection[int], call_id: Any) -> ColumnElement[bool]:
    return call_id.in_(select(_call_programmes.c.call_id)
                       .where(_call_programmes.c.programme_id.in_(programme_ids)).correlate(None))


def loader_criteria(programme_ids: Collection[int]) -> list[Any]:
    """One criterion per scoped model; everything else (users, sites, partners, the outbox,
    the audit log) is either unscoped or reached only through a scoped row."""
    ids = sorted(programme_ids)
    slots = _scoped_slot_ids(ids)

    def by_application(model: Any) -> Any:
        return with_loader_criteria(model, applications_in(ids, model.application_id), include_aliases=True)

    def by_call(model: Any) -> Any:
        return with_loader_criteria(model, _calls_in(ids, model.call_id), include_aliases=True)

    return [
        with_loader_criteria(Programme, Programme.id.in_(ids), include_aliases=True),
        with_loader_criteria(Slot, Slot.programme_id.in_(ids), include_aliases=True),
        with_loader_criteria(Offer, Offer.slot_id.in_(slots), include_aliases=True),
        with_loader_criteria(Residency, Residency.slot_id.in_(slots), include_aliases=True),
        with_loader_criteria(Application, applications_in(ids, Application.id), include_aliases=True),
        with_loader_criteria(Call, _calls_in(ids, Call.id), include_aliases=True),
        with_loader_criteria(Conflict, or_(Conflict.application_id.is_(None),
                                           applications_in(ids, Conflict.application_id)), include_aliases=True),
        with_loader_criteria(Score, Score.review_id.in_(
            select(_reviews.c.id).where(applications_in(ids, _reviews.c.application_id)).correlate(None)),
            include_aliases=True),
        *(by_application(model) for model in (Assignment, Review, Bid, CommitteeComment, CommitteeNote,
                                              MatchPlacement, Attachment, QuestionAnswer)),
        *(by_call(model) for model in (MatchRun, CallReviewer)),
    ]


def _limit_to_scope(state: ORMExecuteState) -> None:
    # Relationship and column loads start from a row already in scope: an offer's slot, an
    # application's ranked programmes. Hiding those would break the page rather than protect.
    if state.is_relationship_load or state.is_column_load:
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    scope = current_scope()
    if scope is not None:
        state.statement = state.statement.options(*loader_criteria(scope))


def install() -> None:
    """Called once at import: every ORM session runs its queries through the scope."""
    if not event.contains(Session, "do_orm_execute", _limit_to_scope):
        event.listen(Session, "do_orm_execute", _limit_to_scope)


install()
