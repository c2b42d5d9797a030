"""A call's reviewer pool, its bidding window, and the bids reviewers place in it.

Managers build the pool from the call's page: existing reviewers found by search, new people
by email invitation (the administrators' invitation, with the reviewer role). Each pool entry
carries the call's own minimum and maximum load, which automatic assignment honours instead
of the reviewer's profile. During the bidding window pool reviewers bid on the call's
applications; ``services.assignments`` turns the bids into affinity (weights in
``domain.affinity``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError

from incubator.domain.applications import ApplicationState
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Assignment, Bid, Call, CallReviewer, Review, ReviewerProfile, User
from incubator.models.committee import BID_LEVELS
from incubator.services import ServiceError
from incubator.services.accounts import invite_user
from incubator.services.audit import record_event
from incubator.services.conflicts import conflict_exists_clause, record_conflict

# Generous, but a typo of 1000 should not reach the solver.
MAX_LOAD_LIMIT = 200
DEFAULT_POOL_MAX_LOAD = 10
MIN_SEARCH_LENGTH = 2
# Applications still waiting for reviews: the only ones a bid or a workload count is about.
OPEN_REVIEW_STATES = (ApplicationState.SUBMITTED.value, ApplicationState.UNDER_REVIEW.value)


class PoolRefused(ServiceError):
    """The change clashes with what exists (already in the pool, a load below work given): HTTP 409."""


def _ensure_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers change a call's reviewer pool."))


# ------------------------------------------------------------------------------ the pool


def pool_query(call: Call) -> Select[tuple[CallReviewer]]:
    """The call's pool entries by reviewer name (for paging)."""
    return (select(CallReviewer).join(User, User.id == CallReviewer.reviewer_id)
            .where(CallReviewer.call_id == call.id).order_by(User.name, User.id))


def pool_entry(call: Call, entry_id: int) -> CallReviewer | None:
    return db.session.scalar(select(CallReviewer).where(CallReviewer.id == entry_id, CallReviewer.call_id == call.id))


def pool_entry_of(call_id: int, reviewer_id: int) -> CallReviewer | None:
    return db.session.scalar(select(CallReviewer).where(CallReviewer.call_id == call_id,
                                                        CallReviewer.reviewer_id == reviewer_id))


def add_to_pool(manager: User, call: Call, reviewer: User, now: dt.datetime) -> CallReviewer:
    """Put an active reviewer into the call's pool, with their profile's maximum as the call's."""
    _ensure_manager(manager)
    if reviewer.role != Role.REVIEWER.value or not reviewer.active:
        raise ServiceError(_("Only active reviewer accounts can join a reviewer pool."), field="reviewer_id")
    if pool_entry_of(call.id, reviewer.id) is not None:
        raise PoolRefused(_("%(name)s is already in this call's reviewer pool.", name=reviewer.name), field="reviewer_id")
    profile = db.session.get(ReviewerProfile, reviewer.id)
    max_load = profile.max_load if profile is not None else DEFAULT_POOL_MAX_LOAD
    entry = CallReviewer(call_id=call.id, reviewer_id=reviewer.id, min_load=0, max_load=max_load,
                         added_by_id=manager.id, added_at=now)
    db.session.add(entry)
    try:
        db.session.flush()
    except IntegrityError as error:  # the same reviewer added twice at once
        db.session.rollback()
        raise PoolRefused(_("%(name)s is already in this call's reviewer pool.", name=reviewer.name)) from error
    record_event(manager, "pool.reviewer_added", "call", call.id, reviewer_id=reviewer.id)
    return entry


def invite_to_pool(manager: User, call: Call, email: str, name: str, now: dt.datetime) -> CallReviewer:
    """Invite a new person as a reviewer (the invitation email) and put them in the pool."""
    _ensure_manager(manager)
    if not name.strip():
        raise ServiceError(_("Enter the reviewer's name."), field="name")
    reviewer = invite_user(manager, email, name, Role.REVIEWER)
    return add_to_pool(manager, call, reviewer, now)


def set_pool_loads(manager: User, entry: CallReviewer, min_load: int, max_load: int) -> None:
    """The call's bounds on one reviewer's load; the maximum may not fall below work already given."""
    _ensure_manager(manager)
    if not 0 <= min_load <= MAX_LOAD_LIMIT:
        raise ServiceError(_("The minimum load is a whole number from 0 to %(max)d.", max=MAX_LOAD_LIMIT), field="min_load")
    if not 0 <= max_load <= MAX_LOAD_LIMIT:
        raise ServiceError(_("The maximum load is a whole number from 0 to %(max)d.", max=MAX_LOAD_LIMIT), field="max_load")
    if min_load > max_load:
        raise ServiceError(_("The minimum load (%(min)d) is above the maximum (%(max)d).", min=min_load, max=max_load),
                           field="min_load")
    assigned = _assigned_in_call(entry.call_id, entry.reviewer_id)
    if max_load < assigned:
        raise PoolRefused(_("%(name)s already reviews %(assigned)d applications in this call; unassign some before "
                            "lowering the maximum to %(max)d.", name=entry.reviewer.name, assigned=assigned,
                            max=max_load), field="max_load")
    entry.min_load, entry.max_load = min_load, max_load
    db.session.flush()
    record_event(manager, "pool.loads_set", "call", entry.call_id, reviewer_id=entry.reviewer_id,
                 min_load=min_load, max_load=max_load)


def remove_from_pool(manager: User, entry: CallReviewer) -> None:
    """Take a reviewer out of the pool; refused while they have work in the call."""
    _ensure_manager(manager)
    assigned = _assigned_in_call(entry.call_id, entry.reviewer_id)
    if assigned:
        raise PoolRefused(_("%(name)s is assigned %(assigned)d applications in this call; unassign them first.",
                            name=entry.reviewer.name, assigned=assigned))
    call_id, reviewer_id = entry.call_id, entry.reviewer_id
    db.session.delete(entry)
    db.session.flush()
    record_event(manager, "pool.reviewer_removed", "call", call_id, reviewer_id=reviewer_id)


def _assigned_in_call(call_id: int, reviewer_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Assignment).join(Application, Application.id == Assignment.application_id)
        .where(Application.call_id == call_id, Assignment.reviewer_id == reviewer_id,
               Application.state != ApplicationState.WITHDRAWN.value)
    ) or 0


def reviewer_search_query(call: Call, text: str) -> Select[tuple[User]]:
    """Active reviewers not yet in the pool whose name or email contains ``text``."""
    text = text.strip().lower()
    if len(text) < MIN_SEARCH_LENGTH:
        raise ServiceError(_("Type at least %(min)d characters of a name or an email.", min=MIN_SEARCH_LENGTH), field="q")
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    in_pool = select(CallReviewer.reviewer_id).where(CallReviewer.call_id == call.id)
    return (select(User).where(User.role == Role.REVIEWER.value, User.active.is_(True), User.id.not_in(in_pool),
                               or_(func.lower(User.name).like(pattern, escape="\\"),
                                   User.email.like(pattern, escape="\\")))
            .order_by(User.name, User.id))


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    """A reviewer's work across every call still in review: assigned, submitted, overdue."""

    assigned: int = 0
    done: int = 0
    overdue: int = 0


def workloads(reviewer_ids: list[int], now: dt.datetime) -> dict[int, Workload]:
    """Per reviewer, in one query: assignments on applications awaiting a decision (all calls)."""
    if not reviewer_ids:
        return {}
    submitted = and_(Review.id.is_not(None), Review.state == "submitted")
    rows = db.session.execute(
        select(Assignment.reviewer_id, func.count(),
               func.sum(case((submitted, 1), else_=0)),
               func.sum(case((and_(~submitted, Assignment.due_at < now), 1), else_=0)))
        .join(Application, Application.id == Assignment.application_id)
        .outerjoin(Review, and_(Review.application_id == Assignment.application_id,
                                Review.reviewer_id == Assignment.reviewer_id))
        .where(Assignment.reviewer_id.in_(reviewer_ids), Application.state.in_(OPEN_REVIEW_STATES))
        .group_by(Assignment.reviewer_id)
    ).all()
    return {reviewer_id: Workload(int(assigned), int(done or 0), int(overdue or 0))
            for reviewer_id, assigned, done, overdue in rows}


# ---------------------------------------------------------------------------- bidding


def set_bidding_window(manager: User, call: Call, opens: dt.datetime | None, closes: dt.datetime | None) -> None:
    """Open bidding between two moments, or switch it off with neither."""
    _ensure_manager(manager)
    if (opens is None) != (closes is None):
        raise ServiceError(_("Give both the opening and the closing of bidding, or neither."), field="bidding_closes")
    if opens is not None and closes is not None and closes <= opens:
        raise ServiceError(_("Bidding must close after it opens."), field="bidding_closes")
    call.bidding_opens, call.bidding_closes = opens, closes
    db.session.flush()
    record_event(manager, "call.bidding_window_set", "call", call.id,
                 opens=opens.isoformat() if opens else None, closes=closes.isoformat() if closes else None)


def biddable_query(reviewer: User, call: Call, *, focus_area: str | None = None,
                   text: str = "") -> Select[tuple[Application]]:
    """The call's applications awaiting review that the reviewer has no conflict with."""
    query = (select(Application)
             .where(Application.call_id == call.id, Application.state.in_(OPEN_REVIEW_STATES),
                    ~conflict_exists_clause(reviewer.id))
             .order_by(Application.company_name, Application.id))
    if focus_area:
        query = query.where(Application.focus_area == focus_area)
    if text.strip():
        pattern = "%" + text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(or_(func.lower(Application.company_name).like(pattern, escape="\\"),
                                func.lower(Application.project_summary).like(pattern, escape="\\")))
    return query


def bids_of(reviewer: User, application_ids: list[int]) -> dict[int, str]:
    if not application_ids:
        return {}
    rows = db.session.execute(select(Bid.application_id, Bid.level).where(
        Bid.reviewer_id == reviewer.id, Bid.application_id.in_(application_ids))).all()
    return {application_id: level for application_id, level in rows}


def calls_open_for_bidding(reviewer: User, now: dt.datetime) -> list[Call]:
    """Calls whose pool holds the reviewer and whose bidding window is open now."""
    return list(db.session.scalars(
        select(Call).join(CallReviewer, CallReviewer.call_id == Call.id)
        .where(CallReviewer.reviewer_id == reviewer.id, Call.bidding_opens <= now, Call.bidding_closes > now)
        .order_by(Call.bidding_closes, Call.id)
    ))


def place_bid(reviewer: User, application: Application, level: str, now: dt.datetime, *,
              reason: str = "") -> Bid:
    """Record (or change) a pool reviewer's bid; "conflict" also records a declared conflict."""
    if level not in BID_LEVELS:
        raise ServiceError(_("Choose eager, willing, not willing or conflict."), field="level")
    call = application.call
    if pool_entry_of(call.id, reviewer.id) is None:
        raise ServiceError(_("You are not in this call's reviewer pool."))
    if not call.bidding_is_open(now):
        raise PoolRefused(_("Bidding for this call is not open."))
    if application.state not in OPEN_REVIEW_STATES:
        raise PoolRefused(_("This application no longer awaits reviewers."))
    if _conflicted(reviewer, application):
        raise PoolRefused(_("You have a conflict of interest with this application."))
    bid = db.session.scalar(select(Bid).where(Bid.application_id == application.id, Bid.reviewer_id == reviewer.id))
    if bid is None:
        bid = Bid(application_id=application.id, reviewer_id=reviewer.id, level=level, updated_at=now)
        db.session.add(bid)
    bid.level, bid.updated_at = level, now
    db.session.flush()
    if level == "conflict":
        record_conflict(reviewer, reviewer, application, reason.strip() or "Declared while bidding.",
                        source="declared", now=now)
    record_event(reviewer, "bid.placed", "application", application.id, level=level)
    return bid


def _conflicted(reviewer: User, application: Application) -> bool:
    return bool(db.session.scalar(select(conflict_exists_clause(reviewer.id)).select_from(Application)
                                  .where(Application.id == application.id)))


def bids_in_call(call: Call) -> dict[tuple[int, int], str]:
    """(reviewer id, application id) -> bid level, for every bid on the call's applications."""
    rows = db.session.execute(
        select(Bid.reviewer_id, Bid.application_id, Bid.level)
        .join(Application, Application.id == Bid.application_id).where(Application.call_id == call.id)
    ).all()
    return {(reviewer_id, application_id): level for reviewer_id, application_id, level in rows}
