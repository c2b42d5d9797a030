"""Who reviews what: assignment by hand, optimal automatic assignment, and the overview.

Every function here is one state change (or a read for the page); they flush and leave the
commit to the caller. Conflicts of interest are the hard rule: a conflicted pair is never
assigned, whether by hand or by the solver.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from incubator.domain.affinity import (
    ApplicationTopics,
    ReviewerInterests,
    affinity_matrix,
    application_text,
    with_bids,
)
from incubator.domain.applications import ApplicationState
from incubator.domain.assignment import AssignmentInstance, solve_assignment
from incubator.domain.conflicts import detect_conflict
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import (
    Application,
    Assignment,
    Call,
    CallReviewer,
    Conflict,
    Programme,
    ProgrammeScope,
    Review,
    ReviewerProfile,
    User,
)
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.conflicts import record_detected_conflicts
from incubator.services.notifications import queue_email
from incubator.services.pools import bids_in_call, pool_entry_of
from incubator.services.scope import applications_in, programmes_of, programmes_of_application

if TYPE_CHECKING:  # numpy itself loads inside the functions that compute
    import numpy as np

# A reviewer without a profile is still assignable, with the profile's own defaults.
DEFAULT_MAX_LOAD = 10

# Only these applications are waiting for reviewers; drafts are not ready, and withdrawn or
# decided ones are past the point where a new review could matter.
ASSIGNABLE_STATES = (ApplicationState.SUBMITTED.value, ApplicationState.UNDER_REVIEW.value)
# Assignments on withdrawn applications are no work for the reviewer, so they do not count.
LOAD_EXCLUDED_STATES = (ApplicationState.WITHDRAWN.value, ApplicationState.DRAFT.value)


class AssignmentRefused(ServiceError):
    """The assignment clashes with what exists (a conflict of interest, a duplicate): HTTP 409."""


@dataclass(frozen=True)
class Reviewer:
    """A reviewer with their profile's settings, or the defaults when they have none."""

    user: User
    max_load: int
    min_load: int
    focus_areas: tuple[str, ...]
    expertise: str


@dataclass(frozen=True)
class Shortfall:
    """Something the solver could not fully satisfy: who or what, and by how many."""

    id: int
    label: str
    missing: int


@dataclass
class AutoAssignReport:
    created: int = 0
    removed: int = 0
    conflicts_detected: int = 0
    total_affinity: float = 0.0
    unfilled: list[Shortfall] = field(default_factory=list)  # applications short of reviewers
    underloaded: list[Shortfall] = field(default_factory=list)  # reviewers short of min_load
    emailed: int = 0  # reviewers told about their new applications
    # Pairs given to a reviewer who bid "not willing", because no assignment without them
    # could fill every place; zero whenever one could.
    not_willing_used: int = 0


# ------------------------------------------------------------------------------- reading


def reviewer_pool() -> list[Reviewer]:
    """Active reviewer accounts with their profile settings, by name."""
    rows = db.session.execute(
        select(User, ReviewerProfile)
        .join(ReviewerProfile, ReviewerProfile.user_id == User.id, isouter=True)
        .where(User.role == Role.REVIEWER.value, User.active.is_(True))
        .order_by(User.name, User.id)
    ).all()
    return [_reviewer(user, profile) for user, profile in rows]


def reviewers_for_call(call: Call) -> list[Reviewer]:
    """The call's reviewer pool with the call's loads; every active reviewer when it has none."""
    rows = db.session.execute(
        select(User, CallReviewer, ReviewerProfile)
        .join(CallReviewer, CallReviewer.reviewer_id == User.id)
        .join(ReviewerProfile, ReviewerProfile.user_id == User.id, isouter=True)
        .where(CallReviewer.call_id == call.id, User.role == Role.REVIEWER.value, User.active.is_(True))
        .order_by(User.name, User.id)
    ).all()
    if not rows and not _has_pool(call):
        return reviewer_pool()
    return [_pool_reviewer(user, entry, profile) for user, entry, profile in rows]


def _has_pool(call: Call) -> bool:
    return db.session.scalar(select(exists().where(CallReviewer.call_id == call.id))) or False


def _pool_reviewer(user: User, entry: CallReviewer, profile: ReviewerProfile | None) -> Reviewer:
    own = _reviewer(user, profile)
    return Reviewer(user, entry.max_load, entry.min_load, own.focus_areas, own.expertise)


def _settings_in_call(call: Call, reviewer: User) -> Reviewer:
    entry = pool_entry_of(call.id, reviewer.id)
    profile = db.session.get(ReviewerProfile, reviewer.id)
    return _pool_reviewer(reviewer, entry, profile) if entry is not None else _reviewer(reviewer, profile)


def _reviewer(user: User, profile: ReviewerProfile | None) -> Reviewer:
    if profile is None:
        return Reviewer(user, DEFAULT_MAX_LOAD, 0, (), "")
    return Reviewer(user, profile.max_load, profile.min_load or 0, tuple(profile.focus_areas or ()),
                    profile.expertise or "")


def assignable_applications(call: Call) -> list[Application]:
    return list(db.session.scalars(
        select(Application)
        .where(Application.call_id == call.id, Application.state.in_(ASSIGNABLE_STATES))
        .order_by(Application.company_name, Application.id)
    ))


def loads_in_call(call: Call, reviewer_id: int | None = None, *,
                  reviewer_ids: Sequence[int] | None = None) -> dict[int, int]:
    """Reviewer id -> applications of this call they are assigned (withdrawn ones not counted);
    for one reviewer, or a page of them (a page's ids only: never one parameter per reviewer
    of a large pool)."""
    query = (
        select(Assignment.reviewer_id, func.count())
        .join(Application, Application.id == Assignment.application_id)
        .where(Application.call_id == call.id, Application.state.not_in(LOAD_EXCLUDED_STATES))
        .group_by(Assignment.reviewer_id)
    )
    if reviewer_id is not None:
        query = query.where(Assignment.reviewer_id == reviewer_id)
    if reviewer_ids is not None:
        if not reviewer_ids:
            return {}
        query = query.where(Assignment.reviewer_id.in_(list(reviewer_ids)))
    rows = db.session.execute(query).all()
    return {reviewer_id: count for reviewer_id, count in rows}


def conflict_join() -> ColumnElement[bool]:
    """The join condition of a conflict to the applications it covers (mirrors conflicts.py)."""
    return or_(
        Conflict.application_id == Application.id,
        and_(Conflict.application_id.is_(None), Conflict.org_number == Application.org_number,
             Conflict.country == Application.country),
    )


def conflicts_in_call(call: Call) -> list[tuple[Conflict, int]]:
    """Every (conflict, application id) of the call, company-wide conflicts included."""
    rows = db.session.execute(
        select(Conflict, Application.id).join(Application, conflict_join())
        .where(Application.call_id == call.id)
        .order_by(Conflict.created_at, Conflict.id)
    ).all()
    return [(conflict, application_id) for conflict, application_id in rows]


def _conflict_reason(reviewer: User, application: Application) -> str | None:
    """Why this pair may not be assigned: a recorded conflict, or an obvious one."""
    recorded = db.session.scalar(
        select(Conflict).join(Application, conflict_join())
        .where(Conflict.reviewer_id == reviewer.id, Application.id == application.id)
        .order_by(Conflict.id).limit(1)
    )
    if recorded is not None:
        return recorded.reason or "A conflict of interest is recorded."
    return detect_conflict(reviewer.email, reviewer.affiliation, application.company_name, application.website)


def _lock_call(call: Call) -> None:
    """Serialise assignment changes within one call (PostgreSQL; SQLite has one writer anyway).

    Loads are counted per call, so without this two managers could each take a reviewer's
    last free place at the same moment.
    """
    db.session.execute(select(Call.id).where(Call.id == call.id).with_for_update())


def application_label(application: Application) -> str:
    return application.company_name or f"Application #{application.id}"


# ---------------------------------------------------------------------------- by hand


def assign_reviewer(manager: User, application: Application, reviewer: User, now: dt.datetime) -> Assignment:
    """Assign one reviewer to one application, refusing anything the rules forbid."""
    if reviewer.role != Role.REVIEWER.value or not reviewer.active:
        raise ServiceError(_("Only active reviewer accounts can be assigned."), field="reviewer_id")
    if application.state not in ASSIGNABLE_STATES:
        raise ServiceError(_("Only submitted applications that await a decision can get reviewers."),
                           field="application_id")
    _ensure_in_reviewer_scope(reviewer, application)
    call = application.call
    _lock_call(call)
    reason = _conflict_reason(reviewer, application)
    if reason:
        raise AssignmentRefused(_("%(name)s has a conflict of interest with %(application)s: %(reason)s",
                                  name=reviewer.name, application=application_label(application), reason=reason),
                                field="reviewer_id")
    if _assignment_of(application.id, reviewer.id) is not None:
        raise AssignmentRefused(_("%(name)s is already assigned to %(application)s.", name=reviewer.name,
                                  application=application_label(application)),
                                field="reviewer_id")
    settings = _settings_in_call(call, reviewer)
    load = loads_in_call(call, reviewer.id).get(reviewer.id, 0)
    if load >= settings.max_load:
        raise ServiceError(_("%(name)s already reviews %(load)d applications in this call, their maximum of %(max)d.",
                             name=reviewer.name, load=load, max=settings.max_load), field="reviewer_id")
    assignment = Assignment(application_id=application.id, reviewer_id=reviewer.id, assigned_by_id=manager.id,
                            source="manual", assigned_at=now, due_at=call.review_deadline)
    db.session.add(assignment)
    with _concurrent_change_refused():
        db.session.flush()
    record_event(manager, "assignment.created", "application", application.id,
                 reviewer_id=reviewer.id, source="manual")
    _mark_under_review(manager, [application])
    _email_new_assignments(call, {reviewer.id: [application]}, {reviewer.id: reviewer})
    return assignment


def _ensure_in_reviewer_scope(reviewer: User, application: Application) -> None:
    """A reviewer limited to some programmes (a partner's) reviews only applications of those
    programmes: they could not even open any other (services.scope)."""
    scope = programmes_of(reviewer)
    if scope is None or not scope.isdisjoint(programmes_of_application(application.id)):
        return
    names = db.session.scalars(select(Programme.name).where(Programme.id.in_(sorted(scope)))
                               .order_by(Programme.name)).all()
    raise AssignmentRefused(_("%(name)s reviews only for %(programmes)s, and %(application)s is not an application "
                              "to those programmes.", name=reviewer.name, programmes=", ".join(names),
                              application=application_label(application)), field="reviewer_id")


def _scoped_out(call: Call, reviewer_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(reviewer, application) pairs of the call's applications awaiting reviews that a limited
    reviewer may not get: one query for the limits (partners' staff are few), then one per
    distinct limit for the applications inside it."""
    wanted = set(reviewer_ids)
    limits: dict[int, set[int]] = defaultdict(set)
    for user_id, programme_id in db.session.execute(
            select(ProgrammeScope.user_id, ProgrammeScope.programme_id)
            .join(User, User.id == ProgrammeScope.user_id).where(User.role == Role.REVIEWER.value)):
        if user_id in wanted:
            limits[user_id].add(programme_id)
    if not limits:
        return []
    awaiting = select(Application.id).where(Application.call_id == call.id, Application.state.in_(ASSIGNABLE_STATES))
    every = set(db.session.scalars(awaiting))
    inside: dict[frozenset[int], set[int]] = {}
    for scope in {frozenset(programmes) for programmes in limits.values()}:
        inside[scope] = set(db.session.scalars(awaiting.where(applications_in(scope, Application.id))))
    return [(user_id, application_id) for user_id, programmes in limits.items()
            for application_id in every - inside[frozenset(programmes)]]


def _assignment_of(application_id: int, reviewer_id: int) -> Assignment | None:
    return db.session.scalar(select(Assignment).where(
        Assignment.application_id == application_id, Assignment.reviewer_id == reviewer_id))


@contextmanager
def _concurrent_change_refused() -> Iterator[None]:
    """A pair assigned twice at once hits the unique constraint; say so instead of failing."""
    try:
        yield
    except IntegrityError as exc:
        db.session.rollback()
        raise AssignmentRefused(_("Someone changed these assignments meanwhile; look again and retry.")) from exc


def unassign_reviewer(manager: User, assignment: Assignment) -> None:
    """Take a reviewer off an application; a submitted review keeps them on it."""
    _lock_call(assignment.application.call)
    review = db.session.scalar(select(Review).where(
        Review.application_id == assignment.application_id, Review.reviewer_id == assignment.reviewer_id))
    if review is not None and review.state == "submitted":
        raise AssignmentRefused(_("%(name)s already submitted their review of %(application)s; it stays assigned.",
                                  name=assignment.reviewer.name,
                                  application=application_label(assignment.application)))
    # A draft would otherwise linger unseen: reviewers only see what they are assigned.
    if review is not None:
        db.session.delete(review)
    details = {"reviewer_id": assignment.reviewer_id, "source": assignment.source,
               "draft_review_removed": review is not None}
    application_id = assignment.application_id
    db.session.delete(assignment)
    db.session.flush()
    record_event(manager, "assignment.removed", "application", application_id, **details)


# ------------------------------------------------------------------------- automatically


def auto_assign(manager: User, call: Call, *, keep_existing: bool = True, now: dt.datetime) -> AutoAssignReport:
    """Fill every application's reviewer places optimally (see domain.assignment).

    Demand is what kept assignments leave open; capacity is what reviewers have left in this
    call; conflicts and pairs already assigned are excluded. Shortfalls are reported, not
    raised: a call with too few reviewers still gets the best partial assignment.
    """
    _lock_call(call)
    report = AutoAssignReport()
    reviewers = reviewers_for_call(call)
    applications = assignable_applications(call)
    detected = record_detected_conflicts(manager, [r.user for r in reviewers], applications, now)
    report.conflicts_detected = len(detected)
    removed_pairs = set() if keep_existing else remove_unstarted_assignments(call)
    report.removed = len(removed_pairs)
    if detected or removed_pairs:  # both expire the session: reload in two queries, not one per row
        reviewers, applications = reviewers_for_call(call), assignable_applications(call)
    if reviewers and applications:
        new_pairs = _solve_and_insert(manager, call, reviewers, applications, now, report)
        by_id = {a.id: a for a in applications}
        _mark_under_review(manager, [by_id[a] for a in {a for _, a in new_pairs}])
        report.emailed = _email_run(call, reviewers, by_id, new_pairs - removed_pairs)
    record_event(manager, "assignment.auto_run", "call", call.id, keep_existing=keep_existing,
                 created=report.created, removed=report.removed, conflicts_detected=report.conflicts_detected,
                 total_affinity=report.total_affinity,
                 unfilled={str(s.id): s.missing for s in report.unfilled},
                 underloaded={str(s.id): s.missing for s in report.underloaded})
    return report


def remove_unstarted_assignments(call: Call) -> set[tuple[int, int]]:
    """Remove the call's assignments whose reviewer has not started a review; returns the pairs."""
    doomed = db.session.execute(
        select(Assignment.reviewer_id, Assignment.application_id).where(_unstarted_in(call))
    ).all()
    if doomed:
        # The same condition again rather than the rows' ids: a large call has more of them
        # than one statement may carry as parameters (65,535 on PostgreSQL). The call is
        # locked, so the set cannot change in between.
        db.session.execute(delete(Assignment).where(_unstarted_in(call))
                           .execution_options(synchronize_session=False))
        db.session.expire_all()
    return {(row.reviewer_id, row.application_id) for row in doomed}


def _unstarted_in(call: Call) -> ColumnElement[bool]:
    """Assignments of the call's applications awaiting reviews whose reviewer has not started."""
    started = exists().where(Review.application_id == Assignment.application_id,
                             Review.reviewer_id == Assignment.reviewer_id)
    # Decided applications keep their history; only those still awaiting reviews are redone.
    in_call = select(Application.id).where(Application.call_id == call.id, Application.state.in_(ASSIGNABLE_STATES))
    return and_(Assignment.application_id.in_(in_call), ~started)


def _solve_and_insert(manager: User, call: Call, reviewers: Sequence[Reviewer],
                      applications: Sequence[Application], now: dt.datetime,
                      report: AutoAssignReport) -> set[tuple[int, int]]:
    # "Not willing" first as a hard exclusion; only if that leaves places empty are those
    # pairs allowed again, at a strongly negative affinity, so they fill only what must be.
    bids = bids_in_call(call)
    instance = _build_instance(call, reviewers, applications, bids, allow_not_willing=False)
    result = solve_assignment(instance)
    if result.unfilled and "not_willing" in bids.values():
        instance = _build_instance(call, reviewers, applications, bids, allow_not_willing=True)
        result = solve_assignment(instance)
        report.not_willing_used = sum(
            1 for x, assigned in result.assignments.items() for r in assigned
            if bids.get((int(r), int(x))) == "not_willing")
    reviewer_at = {str(r.user.id): i for i, r in enumerate(reviewers)}
    application_at = {str(a.id): j for j, a in enumerate(applications)}
    rows = [
        {"application_id": int(x), "reviewer_id": int(r), "assigned_by_id": manager.id, "source": "auto",
         "affinity": round(float(instance.affinity[reviewer_at[r], application_at[x]]), 6),
         "assigned_at": now, "due_at": call.review_deadline}
        for x, assigned in result.assignments.items() for r in assigned
    ]
    if rows:
        with _concurrent_change_refused():
            db.session.execute(insert(Assignment), rows)  # one executemany, not an object per row
    labels = {str(a.id): application_label(a) for a in applications}
    names = {str(r.user.id): r.user.name for r in reviewers}
    report.created = len(rows)
    report.total_affinity = result.total_affinity
    report.unfilled = [Shortfall(int(x), labels[x], n) for x, n in result.unfilled.items()]
    report.underloaded = [Shortfall(int(r), names[r], n) for r, n in result.underloaded.items()]
    return {(row["reviewer_id"], row["application_id"]) for row in rows}


def _build_instance(call: Call, reviewers: Sequence[Reviewer], applications: Sequence[Application],
                    bids: dict[tuple[int, int], str] | None = None, *,
                    allow_not_willing: bool = False) -> AssignmentInstance:
    import numpy as np
    reviewer_at = {r.user.id: i for i, r in enumerate(reviewers)}
    application_at = {a.id: j for j, a in enumerate(applications)}
    allowed = np.ones((len(reviewers), len(applications)), dtype=bool)
    kept = np.zeros(len(applications), dtype=np.int64)
    for reviewer_id, application_id in existing_pairs(call):
        if application_id not in application_at:
            continue
        j = application_at[application_id]
        kept[j] += 1  # counts towards demand even if the reviewer is no longer in the pool
        if reviewer_id in reviewer_at:
            allowed[reviewer_at[reviewer_id], j] = False
    for reviewer_id, application_id in _scoped_out(call, reviewer_at):
        if application_id in application_at:
            allowed[reviewer_at[reviewer_id], application_at[application_id]] = False
    for conflict, application_id in conflicts_in_call(call):
        if conflict.reviewer_id in reviewer_at and application_id in application_at:
            allowed[reviewer_at[conflict.reviewer_id], application_at[application_id]] = False
    bid_cells = {(reviewer_at[r], application_at[x]): level for (r, x), level in (bids or {}).items()
                 if r in reviewer_at and x in application_at}
    for (i, j), level in bid_cells.items():
        if level == "conflict" or (level == "not_willing" and not allow_not_willing):
            allowed[i, j] = False
    loads = loads_in_call(call)
    used = np.array([loads.get(r.user.id, 0) for r in reviewers], dtype=np.int64)
    max_left = np.maximum(np.array([r.max_load for r in reviewers], dtype=np.int64) - used, 0)
    min_left = np.minimum(np.maximum(np.array([r.min_load for r in reviewers], dtype=np.int64) - used, 0),
                          max_left)
    return AssignmentInstance(
        reviewer_ids=tuple(str(r.user.id) for r in reviewers),
        application_ids=tuple(str(a.id) for a in applications),
        max_load=max_left,
        min_load=min_left,
        demand=np.maximum(call.reviewers_per_application - kept, 0),
        affinity=with_bids(_affinity(reviewers, applications), bid_cells),
        allowed=allowed,
    )


def existing_pairs(call: Call) -> list[tuple[int, int]]:
    """(reviewer id, application id) of every assignment on the call's applications awaiting
    reviews: a join, not the applications' ids as parameters (a large call has more of them
    than one statement may carry)."""
    rows = db.session.execute(
        select(Assignment.reviewer_id, Assignment.application_id)
        .join(Application, Application.id == Assignment.application_id)
        .where(Application.call_id == call.id, Application.state.in_(ASSIGNABLE_STATES))
    ).all()
    return [(reviewer_id, application_id) for reviewer_id, application_id in rows]


def _affinity(reviewers: Sequence[Reviewer], applications: Sequence[Application]) -> np.ndarray:
    return affinity_matrix(
        [ReviewerInterests(r.focus_areas, r.expertise) for r in reviewers],
        [ApplicationTopics(a.focus_area, application_text(
            project_summary=a.project_summary, unmet_need=a.unmet_need, team=a.team,
            focus_area=a.focus_area, development_stage=a.development_stage)) for a in applications],
    )


# ----------------------------------------------------------------- state and notification


def _mark_under_review(manager: User, applications: Iterable[Application]) -> None:
    """A submitted application moves to 'under review' with its first reviewer."""
    for application in sorted(applications, key=lambda a: a.id):
        if application.state == ApplicationState.SUBMITTED.value:
            application.state = ApplicationState.UNDER_REVIEW.value
            record_event(manager, "application.under_review", "application", application.id,
                         call_id=application.call_id)
    db.session.flush()


def _email_run(call: Call, reviewers: Sequence[Reviewer], applications: dict[int, Application],
               new_pairs: Iterable[tuple[int, int]]) -> int:
    grouped: dict[int, list[Application]] = defaultdict(list)
    for reviewer_id, application_id in new_pairs:
        grouped[reviewer_id].append(applications[application_id])
    return _email_new_assignments(call, grouped, {r.user.id: r.user for r in reviewers})


def _email_new_assignments(call: Call, grouped: dict[int, list[Application]], users: dict[int, User]) -> int:
    """One email per reviewer listing all their new applications; returns how many were queued."""
    link = public_url("review.assignments")
    for reviewer_id, new in sorted(grouped.items()):
        reviewer = users[reviewer_id]
        queue_email(
            reviewer.email,
            _l("Applications to review: %(call)s", call=call.title),
            "review_assignments",
            kind="review_assignments",
            locale=reviewer.locale,
            reviewer=reviewer,
            call=call,
            applications=sorted(new, key=lambda a: (application_label(a).lower(), a.id)),
            link=link,
        )
    return len(grouped)


# ------------------------------------------------------------------------------ overview


@dataclass(frozen=True)
class AssignedReviewer:
    assignment: Assignment
    review_state: str | None  # None (not started), "draft" or "submitted"


@dataclass(frozen=True)
class ApplicationAssignments:
    application: Application
    assigned: list[AssignedReviewer]
    conflicts: list[Conflict]
    wanted: int

    @property
    def submitted_reviews(self) -> int:
        return sum(1 for a in self.assigned if a.review_state == "submitted")

    @property
    def missing(self) -> int:
        return max(self.wanted - len(self.assigned), 0)


@dataclass(frozen=True)
class ReviewerLoad:
    reviewer: Reviewer
    load: int

    @property
    def full(self) -> bool:
        return self.load >= self.reviewer.max_load
