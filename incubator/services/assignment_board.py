"""What the managers' assignment board reads: a page of a call's applications with their
reviewers, a page of the call's reviewers with their loads, and the look-ups behind the
"assign by hand" and "record a conflict" fields.

Every read is bounded: pages are keyset pages (no OFFSET, no COUNT over the call), per-row
details are fetched for the page's ids only, and the look-ups return at most a handful of
suggestions. A call of 100,000 applications costs what a call of 100 does.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, func, literal_column, or_, select, tuple_
from sqlalchemy.orm import contains_eager, selectinload

from incubator.domain.applications import ApplicationState
from incubator.domain.ids import as_row_id
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Call,
    CallProgramme,
    CallReviewer,
    Conflict,
    Review,
    ReviewerProfile,
    User,
)
from incubator.services import ServiceError
from incubator.services.assignments import (
    ASSIGNABLE_STATES,
    DEFAULT_MAX_LOAD,
    ApplicationAssignments,
    AssignedReviewer,
    Reviewer,
    ReviewerLoad,
    application_label,
    conflict_join,
    loads_in_call,
)
from incubator.services.scope import programmes_of_application, staff_covering

APPLICATIONS_PER_PAGE = 50
REVIEWERS_PER_PAGE = 25
SUGGESTIONS = 20  # what the search fields offer while the manager types
MAX_SEARCH_LENGTH = 100
# States a manager can filter the board by: every state an application on it can be in.
BOARD_STATES = tuple(state.value for state in ApplicationState if state != ApplicationState.DRAFT)
# "Alpha Onc (#123)": what a suggestion puts in the field; the number decides.
_REFERENCE = re.compile(r"\(#([0-9]{1,10})\)\s*$")

T = TypeVar("T")


@dataclass(frozen=True)
class BoardFilter:
    """The board's search and filters, as read from the query string."""

    search: str = ""
    state: str = ""
    missing_only: bool = False  # only applications awaiting reviews with places still open


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """One page in (name, id) order; ``next_after`` is the id of its last row when more follow."""

    items: list[T]
    next_after: int | None


def _name_key(column: Any) -> ColumnElement[str]:
    # NULL sorts first in SQLite and last in PostgreSQL; an empty string sorts the same in both.
    # The '' is written inline, not bound, so the expression is the one ix_applications_call_name
    # indexes and the database reads a page in index order.
    return func.coalesce(column, literal_column("''"))


def _keyset(query: Select[Any], name: Any, id_column: Any, after: int | None, anchor_name: str | None,
            per_page: int) -> tuple[list[Any], int | None]:
    key = _name_key(name)
    if after is not None and anchor_name is not None:
        query = query.where(tuple_(key, id_column) > tuple_(anchor_name, after))
    rows = list(db.session.scalars(query.order_by(key, id_column).limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    return rows, (rows[-1].id if more and rows else None)


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).contains(text.lower(), autoescape=True)


# ------------------------------------------------------------------------------ applications


def _application_query(call: Call, board: BoardFilter) -> Select[tuple[Application]]:
    query = select(Application).where(Application.call_id == call.id,
                                      Application.state != ApplicationState.DRAFT.value)
    if board.state in BOARD_STATES:
        query = query.where(Application.state == board.state)
    if board.missing_only:
        # The stored count (kept by triggers on assignments) rather than counting each
        # application's assignments: an index finds the few still short in a large call.
        query = query.where(Application.state.in_(ASSIGNABLE_STATES),
                            Application.assignment_count < call.reviewers_per_application)
    if board.search:
        number = _number_in(board.search)
        named = _contains(Application.company_name, board.search)
        query = query.where(or_(named, Application.id == number) if number is not None else named)
    return query


def _number_in(text: str) -> int | None:
    """An id typed as "123", "#123" or picked as "Name (#123)"."""
    text = text.strip()
    found = _REFERENCE.search(text)
    return as_row_id(found.group(1) if found else text.removeprefix("#"))


def application_page(call: Call, board: BoardFilter, after: int | None = None,
                     per_page: int = APPLICATIONS_PER_PAGE) -> KeysetPage[ApplicationAssignments]:
    """A page of the call's applications (drafts left out) by company name, each with its
    reviewers, their review states and the conflicts that cover it."""
    anchor = _anchor_name(select(Application.company_name).where(Application.id == after,
                                                                 Application.call_id == call.id), after)
    applications, next_after = _keyset(_application_query(call, board), Application.company_name, Application.id,
                                       after, anchor, per_page)
    ids = [application.id for application in applications]
    assignments = _assignments_of(ids)
    review_states = _review_states(ids)
    conflicts = _conflicts_of(ids)
    rows = [
        ApplicationAssignments(
            application,
            [AssignedReviewer(a, review_states.get((a.application_id, a.reviewer_id)))
             for a in assignments.get(application.id, [])],
            conflicts.get(application.id, []),
            call.reviewers_per_application,
        )
        for application in applications
    ]
    return KeysetPage(rows, next_after)


def _anchor_name(query: Select[tuple[str | None]], after: int | None) -> str | None:
    """The name of the row a page starts after; None (start from the top) when it is unknown."""
    if after is None:
        return None
    found = db.session.execute(query).first()
    return None if found is None else (found[0] or "")


# The three per-row reads below take a page's ids (at most a page size), never a call's.

def _assignments_of(application_ids: list[int]) -> dict[int, list[Assignment]]:
    grouped: dict[int, list[Assignment]] = defaultdict(list)
    if application_ids:
        for assignment in db.session.scalars(
            select(Assignment).join(User, User.id == Assignment.reviewer_id)
            .options(contains_eager(Assignment.reviewer))
            .where(Assignment.application_id.in_(application_ids)).order_by(User.name, Assignment.id)
        ):
            grouped[assignment.application_id].append(assignment)
    return grouped


def _review_states(application_ids: list[int]) -> dict[tuple[int, int], str]:
    if not application_ids:
        return {}
    rows = db.session.execute(
        select(Review.application_id, Review.reviewer_id, Review.state)
        .where(Review.application_id.in_(application_ids))
    ).all()
    return {(a, r): state for a, r, state in rows}


def _conflicts_of(application_ids: list[int]) -> dict[int, list[Conflict]]:
    grouped: dict[int, list[Conflict]] = defaultdict(list)
    if application_ids:
        for conflict, application_id in db.session.execute(
            select(Conflict, Application.id).join(Application, conflict_join())
            .options(selectinload(Conflict.reviewer))
            .where(Application.id.in_(application_ids))
            .order_by(Conflict.created_at, Conflict.id)
        ):
            grouped[application_id].append(conflict)
    return grouped


# --------------------------------------------------------------------------------- reviewers


def _has_pool(call: Call) -> bool:
    return bool(db.session.scalar(select(select(CallReviewer.id).where(CallReviewer.call_id == call.id).exists())))


def _reviewer_query(call: Call, search: str) -> Select[tuple[User]]:
    """The call's pool, or every active reviewer while the pool is empty (as auto-assignment)."""
    query = select(User).where(User.role == Role.REVIEWER.value, User.active.is_(True))
    if _has_pool(call):
        query = query.join(CallReviewer, (CallReviewer.reviewer_id == User.id) & (CallReviewer.call_id == call.id))
    if search:
        query = query.where(or_(_contains(User.name, search), _contains(User.email, search)))
    return query


def reviewer_page(call: Call, search: str = "", after: int | None = None,
                  per_page: int = REVIEWERS_PER_PAGE) -> KeysetPage[ReviewerLoad]:
    """A page of the call's reviewers by name with their load in the call and its bounds."""
    anchor = _anchor_name(select(User.name).where(User.id == after), after)
    users, next_after = _keyset(_reviewer_query(call, search), User.name, User.id, after, anchor, per_page)
    ids = [user.id for user in users]
    settings = _settings_of(call, ids)
    loads = loads_in_call(call, reviewer_ids=ids)
    return KeysetPage([ReviewerLoad(settings[user.id], loads.get(user.id, 0)) for user in users], next_after)


def _settings_of(call: Call, user_ids: list[int]) -> dict[int, Reviewer]:
    """Each reviewer's bounds in the call (pool entry, else profile, else the defaults)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(User, CallReviewer, ReviewerProfile)
        .join(CallReviewer, (CallReviewer.reviewer_id == User.id) & (CallReviewer.call_id == call.id), isouter=True)
        .join(ReviewerProfile, ReviewerProfile.user_id == User.id, isouter=True)
        .where(User.id.in_(user_ids))
    ).all()
    settings = {}
    for user, entry, profile in rows:
        areas = tuple(profile.focus_areas or ()) if profile else ()
        expertise = (profile.expertise or "") if profile else ""
        if entry is not None:
            settings[user.id] = Reviewer(user, entry.max_load, entry.min_load, areas, expertise)
        elif profile is not None:
            settings[user.id] = Reviewer(user, profile.max_load, profile.min_load or 0, areas, expertise)
        else:
            settings[user.id] = Reviewer(user, DEFAULT_MAX_LOAD, 0, areas, expertise)
    return settings


# ------------------------------------------------------------------ look-ups for the forms


def suggest_applications(call: Call, text: str, limit: int = SUGGESTIONS) -> list[Application]:
    """Applications awaiting reviews whose company name contains ``text`` (or whose number it is)."""
    query = _application_query(call, BoardFilter(search=text.strip()[:MAX_SEARCH_LENGTH]))
    query = query.where(Application.state.in_(ASSIGNABLE_STATES))
    return list(db.session.scalars(query.order_by(_name_key(Application.company_name), Application.id).limit(limit)))


def suggest_reviewers(text: str, limit: int = SUGGESTIONS, *, call: Call | None = None,
                      application: Application | None = None) -> list[User]:
    """Active reviewers whose name or email contains ``text`` (or whose number it is); of those
    limited to some programmes, only the ones who may review ``application`` (else one of
    ``call``'s applications)."""
    text = text.strip()[:MAX_SEARCH_LENGTH]
    query = select(User).where(User.role == Role.REVIEWER.value, User.active.is_(True))
    if application is not None:
        query = query.where(staff_covering(User.id, programmes_of_application(application.id)))
    elif call is not None:
        offered = select(CallProgramme.programme_id).where(CallProgramme.call_id == call.id)
        query = query.where(staff_covering(User.id, db.session.scalars(offered).all()))
    if text:
        named = or_(_contains(User.name, text), _contains(User.email, text))
        number = _number_in(text)
        query = query.where(or_(named, User.id == number) if number is not None else named)
    return list(db.session.scalars(query.order_by(_name_key(User.name), User.id).limit(limit)))


def application_reference(application: Application) -> str:
    """What a suggestion puts in the field, and what the field reads back."""
    return f"{application_label(application)} (#{application.id})"


def reviewer_reference(user: User) -> str:
    return f"{user.name} (#{user.id})"


def application_named(call: Call, text: str) -> Application:
    """The application awaiting reviews the manager typed or picked: "Name (#id)", its number or
    its exact company name. Refused with a message for the field otherwise."""
    query = select(Application).where(Application.call_id == call.id, Application.state.in_(ASSIGNABLE_STATES))
    found = _one_named(query, Application.id, Application.company_name, text)
    if found == "several":
        raise ServiceError(_("Several applications are called %(name)s; pick one from the suggestions or give its "
                             "number.", name=text.strip()), field="application_id")
    if found is None:
        raise ServiceError(_("Choose an application of this call that awaits reviews."), field="application_id")
    return found


def reviewer_named(text: str) -> User:
    """The active reviewer the manager typed or picked: "Name (#id)", number, email or exact name."""
    query = select(User).where(User.role == Role.REVIEWER.value, User.active.is_(True))
    by_email = db.session.scalars(query.where(func.lower(User.email) == text.strip().lower()).limit(1)).first()
    found = by_email or _one_named(query, User.id, User.name, text)
    if found == "several":
        raise ServiceError(_("Several reviewers are called %(name)s; pick one from the suggestions or give their "
                             "email.", name=text.strip()), field="reviewer_id")
    if found is None:
        raise ServiceError(_("Choose one of the active reviewers."), field="reviewer_id")
    return found


def _one_named(query: Select[Any], id_column: Any, name_column: Any, text: str) -> Any:
    """The one row whose id the text names, else whose name it is exactly; "several" if ambiguous."""
    number = _number_in(text)
    if number is not None:
        return db.session.scalars(query.where(id_column == number)).first()
    name = text.strip().lower()
    if not name or len(name) > MAX_SEARCH_LENGTH * 2:
        return None
    rows = db.session.scalars(query.where(func.lower(name_column) == name).limit(2)).all()
    if len(rows) > 1:
        return "several"
    return rows[0] if rows else None
