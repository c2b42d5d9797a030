"""Figures for the people who run the programme: per call and across calls and years.

Every figure is an aggregate computed in SQL (GROUP BY, conditional counts), never by loading
applications, so the dashboards stay fast at 100,000 applications. Every function takes
``programme_ids``: ``None`` means every programme; a collection limits the figures to
applications that ranked one of those programmes and to those programmes' slots, so partner
staff can be shown only their own programmes' figures.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from incubator.domain import residency_matching as rm
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Call,
    CallInsightSnapshot,
    Criterion,
    Offer,
    ProgrammePreference,
    Residency,
    Review,
    Score,
    Site,
    Slot,
    User,
)
from incubator.models.insight_snapshots import ALL_PROGRAMMES

ProgrammeIds = Collection[int] | None

# The funnel's stages, in order; each is a subset of the one before in the normal course.
FUNNEL_STAGES = ("started", "submitted", "eligible", "reviewed", "accepted", "offered", "resident")
# Submissions per day are drawn for at most this many days (a call open longer shows its last ones).
MAX_DAYS = 366
# Time from submission to decision, in buckets of this many days.
DECISION_BUCKET_DAYS = 7
MAX_MONTHS = 36


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def in_programmes(programme_ids: ProgrammeIds) -> ColumnElement[bool]:
    """Applications that ranked one of the programmes (all applications for ``None``)."""
    if programme_ids is None:
        return literal(True)
    return exists().where(ProgrammePreference.application_id == Application.id,
                          ProgrammePreference.programme_id.in_(sorted(programme_ids)))


def _slots_in(programme_ids: ProgrammeIds) -> ColumnElement[bool]:
    return literal(True) if programme_ids is None else Slot.programme_id.in_(sorted(programme_ids))


def _count_if(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# ---------------------------------------------------------------------------- per call


@dataclass(frozen=True)
class FunnelStage:
    stage: str
    count: int
    previous: int | None  # the stage before's count, None for the first

    @property
    def kept_share(self) -> float | None:
        """Share of the stage before that reached this one."""
        return None if not self.previous else self.count / self.previous


def _funnel_counts(where: ColumnElement[bool]) -> dict[int, list[int]]:
    """Per call: the funnel's counts of the applications matching ``where``. Grouped queries over
    the applications rather than a lookup per application in the select list; a stage reached
    through another table (reviewed, offered, resident) counts the applications having such a
    row (a semi-join: on PostgreSQL 1.5–2.5× faster at 100,000 applications than counting the
    distinct ids of a join with their 300,000 reviews, which sorted them on disk)."""
    counted: dict[int, list[int]] = defaultdict(lambda: [0] * len(FUNNEL_STAGES))
    base = select(Application.call_id, func.count(Application.id),
                  _count_if(Application.submitted_at.is_not(None)),
                  # Eligibility is checked when an application is submitted; eligible ones are
                  # those still in the running, i.e. not withdrawn.
                  _count_if(and_(Application.submitted_at.is_not(None), Application.state != "withdrawn")),
                  _count_if(Application.state == "accepted")).where(where).group_by(Application.call_id)
    for call_id, started, submitted, eligible, accepted in db.session.execute(base):
        counted[call_id][0:3] = [int(started), int(submitted), int(eligible)]
        counted[call_id][4] = int(accepted)
    having = (
        (3, exists().where(Review.application_id == Application.id, Review.state == "submitted")),
        (5, exists().where(Offer.application_id == Application.id, Offer.offered_at.is_not(None))),
        (6, exists().where(Residency.application_id == Application.id)),
    )
    for position, condition in having:
        query = select(Application.call_id, func.count()).where(where, condition).group_by(Application.call_id)
        for call_id, n in db.session.execute(query):
            counted[call_id][position] = int(n)
    return counted


def _stages(counts: Sequence[int]) -> list[FunnelStage]:
    return [FunnelStage(stage, int(count), None if i == 0 else int(counts[i - 1]))
            for i, (stage, count) in enumerate(zip(FUNNEL_STAGES, counts, strict=True))]


def funnel(call_id: int, programme_ids: ProgrammeIds) -> list[FunnelStage]:
    """Started, submitted, eligible, reviewed, accepted, offered and resident applications."""
    counts = _funnel_counts(and_(Application.call_id == call_id, in_programmes(programme_ids)))
    return _stages(counts.get(call_id, [0] * len(FUNNEL_STAGES)))


@dataclass(frozen=True)
class CallFunnel:
    call_id: int
    title: str
    stages: list[FunnelStage]


def _calls_opened_in(year: int) -> ColumnElement[bool]:
    start, end = dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    return and_(Call.opens_at >= start, Call.opens_at < end)


def funnels_of_year(year: int, programme_ids: ProgrammeIds) -> list[CallFunnel]:
    """The funnel of each call that opened in ``year`` (calls without applications left out).

    A call whose stored figures for this scope are current (``call_insights``) gives the funnel
    stored there: one row per call instead of counting its reviews (300,000 at 100,000
    applications). The funnel does not depend on time, so the stored one holds until the call's
    inputs change, even once an assignment fell overdue. The calls without current figures are
    counted from the data, all in one set of grouped queries; their figures are not stored here
    (computing a call's whole dashboard takes 1–2 s at that size; its page stores them)."""
    stored = aliased(CallInsightSnapshot)
    joined = and_(stored.call_id == Call.id, stored.scope == scope_key(programme_ids))
    current = and_(stored.id.is_not(None), stored.inputs_version == func.coalesce(Call.insights_version, 0))
    calls = db.session.execute(
        select(Call.id, Call.title, case((current, stored.figures["funnel"])))
        .outerjoin(stored, joined).where(_calls_opened_in(year)).order_by(Call.opens_at, Call.id)).all()
    counts: dict[int, Sequence[int]] = {call_id: funnel for call_id, _title, funnel in calls if funnel is not None}
    if len(counts) < len(calls):
        stale = select(Call.id).outerjoin(stored, joined).where(_calls_opened_in(year), ~current)
        counts.update(_funnel_counts(and_(Application.call_id.in_(stale.scalar_subquery()),
                                          in_programmes(programme_ids))))
    return [CallFunnel(call_id, title, _stages(counts[call_id])) for call_id, title, _funnel in calls
            if call_id in counts and counts[call_id][0]]


def _day(column: Any) -> Any:
    """The UTC calendar day of a timestamp column."""
    # SQLite stores UTC without a zone; PostgreSQL's date of a timestamptz follows the session's zone.
    return func.date(column) if _dialect() == "sqlite" else cast(func.timezone("UTC", column), Date)


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _submission_counts(call_id: int, programme_ids: ProgrammeIds) -> dict[dt.date, int]:
    day = _day(Application.submitted_at)
    rows = db.session.execute(
        select(day, func.count()).where(Application.call_id == call_id, Application.submitted_at.is_not(None),
                                        in_programmes(programme_ids))
        .group_by(day))
    return {_as_date(d): int(n) for d, n in rows}


def _every_day(call: Call, counts: dict[dt.date, int]) -> list[tuple[dt.date, int]]:
    first = min([call.opens_at.date(), *counts])
    last = max([call.closes_at.date(), *counts])
    first = max(first, last - dt.timedelta(days=MAX_DAYS - 1))
    return [(first + dt.timedelta(days=n), counts.get(first + dt.timedelta(days=n), 0))
            for n in range((last - first).days + 1)]


def submissions_per_day(call: Call, programme_ids: ProgrammeIds) -> list[tuple[dt.date, int]]:
    """Submissions per UTC day from the call's opening to its deadline (days without any count 0)."""
    return _every_day(call, _submission_counts(call.id, programme_ids))


@dataclass(frozen=True)
class CriterionScores:
    criterion_id: int
    name: str
    scale_min: Decimal
    scale_max: Decimal
    counts: list[tuple[Decimal, int]]  # (score, submitted reviews giving it), by score


def _criteria(call_id: int) -> list[Any]:
    return list(db.session.execute(select(Criterion.id, Criterion.name, Criterion.scale_min, Criterion.scale_max)
                                   .where(Criterion.call_id == call_id).order_by(Criterion.position)).all())


def _score_counts(call_id: int, programme_ids: ProgrammeIds) -> dict[int, list[tuple[Decimal, int]]]:
    rows = db.session.execute(
        select(Score.criterion_id, Score.value, func.count())
        .join(Review, Review.id == Score.review_id).join(Application, Application.id == Review.application_id)
        .where(Application.call_id == call_id, Review.state == "submitted", in_programmes(programme_ids))
        .group_by(Score.criterion_id, Score.value).order_by(Score.criterion_id, Score.value))
    counts: dict[int, list[tuple[Decimal, int]]] = defaultdict(list)
    for criterion_id, value, n in rows:
        counts[criterion_id].append((Decimal(value), int(n)))
    return counts


def _per_criterion(criteria: Sequence[Any], counts: dict[int, list[tuple[Decimal, int]]]) -> list[CriterionScores]:
    return [CriterionScores(cid, name, Decimal(low), Decimal(high), counts.get(cid, []))
            for cid, name, low, high in criteria]


def score_distribution(call_id: int, programme_ids: ProgrammeIds) -> list[CriterionScores]:
    """How often each score was given on each criterion in submitted reviews."""
    return _per_criterion(_criteria(call_id), _score_counts(call_id, programme_ids))


@dataclass(frozen=True)
class ReviewerFigures:
    reviewer_id: int
    name: str
    assigned: int
    done: int
    overdue: int
    reviews: int  # submitted reviews with a weighted score
    mean: float | None
    spread: float | None  # population standard deviation of their weighted scores
    others_mean: float | None  # the other reviewers' mean on the same applications

    @property
    def due(self) -> int:
        """Assigned, not done and not yet late."""
        return self.assigned - self.done - self.overdue

    @property
    def offset(self) -> float | None:
        """How much more (or less) generous than the others on the same applications."""
        return None if self.mean is None or self.others_mean is None else self.mean - self.others_mean


def reviewer_figures(call_id: int, programme_ids: ProgrammeIds, now: dt.datetime) -> list[ReviewerFigures]:
    """Per reviewer: progress on their assignments, and the mean and spread of their weighted
    scores against the other reviewers' scores of the same applications."""
    return _reviewer_figures(call_id, programme_ids, now)[0]


def _reviewer_progress(scope: ColumnElement[bool], now: dt.datetime) -> tuple[
        dict[int, tuple[int, int, int]], dict[int, str], dt.datetime | None]:
    """Per reviewer (assigned, done, overdue) and name, and the next due date of an open
    assignment: the moment at which these counts change without any write."""
    submitted_review = and_(Review.application_id == Assignment.application_id,
                            Review.reviewer_id == Assignment.reviewer_id, Review.state == "submitted")
    open_assignment = and_(Review.id.is_(None), Assignment.due_at.is_not(None))
    late = and_(open_assignment, Assignment.due_at < now)
    progress: dict[int, tuple[int, int, int]] = {}
    names: dict[int, str] = {}
    next_due: dt.datetime | None = None
    per_reviewer = (select(Assignment.reviewer_id.label("reviewer_id"), func.count(Assignment.id).label("assigned"),
                           func.count(Review.id).label("finished"), _count_if(late).label("overdue"),
                           func.min(case((and_(open_assignment, Assignment.due_at >= now), Assignment.due_at)))
                           .label("next_due"))
                    .join(Application, Application.id == Assignment.application_id)
                    .outerjoin(Review, submitted_review).where(scope)
                    .group_by(Assignment.reviewer_id).subquery("per_reviewer"))
    # Names joined after grouping: a lookup per reviewer, not per assignment.
    for reviewer_id, name, assigned, finished, overdue, due in db.session.execute(
            select(per_reviewer.c.reviewer_id, User.name, per_reviewer.c.assigned, per_reviewer.c.finished,
                   per_reviewer.c.overdue, per_reviewer.c.next_due)
            .join(User, User.id == per_reviewer.c.reviewer_id)):
        progress[reviewer_id], names[reviewer_id] = (int(assigned), int(finished), int(overdue)), name
        if due is not None:
            due = _as_datetime(due)
            next_due = due if next_due is None else min(next_due, due)
    return progress, names, next_due


def _as_datetime(value: Any) -> dt.datetime:
    """A timestamp from an aggregate (SQLite hands back text without a zone; both are UTC)."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _reviewer_scores(scope: ColumnElement[bool]) -> dict[int, tuple[Any, ...]]:
    """Per reviewer: submitted reviews, mean and mean square of their weighted scores, the
    others' total and count on the same applications, and the reviewer's name."""
    score = cast(Review.weighted_score, db.Float)
    # Each application's total and number of scores beside each review (window functions: one
    # pass over the reviews), so the others' mean on a reviewer's applications is
    # Σ(total − own) / Σ(n − 1): the mean over every (reviewer, other) pair without joining the
    # reviews to themselves.
    scored = (select(Review.reviewer_id.label("reviewer_id"), score.label("score"),
                     func.sum(score).over(partition_by=Review.application_id).label("total"),
                     func.count().over(partition_by=Review.application_id).label("n"))
              .join(Application, Application.id == Review.application_id)
              .where(scope, Review.state == "submitted", Review.weighted_score.is_not(None))
              .subquery("scored"))
    per_reviewer = (select(scored.c.reviewer_id, func.count().label("reviews"), func.avg(scored.c.score).label("mean"),
                           func.avg(scored.c.score * scored.c.score).label("mean_square"),
                           func.sum(scored.c.total - scored.c.score).label("others_total"),
                           func.sum(scored.c.n - 1).label("others_count"))
                    .group_by(scored.c.reviewer_id).subquery("per_reviewer"))
    rows = db.session.execute(select(per_reviewer, User.name).join(User, User.id == per_reviewer.c.reviewer_id))
    return {reviewer_id: tuple(figures) for reviewer_id, *figures in rows}


def _reviewer_figures(call_id: int, programme_ids: ProgrammeIds,
                      now: dt.datetime) -> tuple[list[ReviewerFigures], dt.datetime | None]:
    scope = and_(Application.call_id == call_id, in_programmes(programme_ids))
    progress, names, next_due = _reviewer_progress(scope, now)
    own = _reviewer_scores(scope)
    names.update({reviewer_id: figures[-1] for reviewer_id, figures in own.items()})
    reviewer_ids = sorted(set(progress) | set(own))
    figures = []
    for reviewer_id in reviewer_ids:
        assigned, finished, overdue = progress.get(reviewer_id, (0, 0, 0))
        count, mean, mean_square, others_total, others_count, _name = own.get(reviewer_id, (0, None, None, None, 0, ""))
        spread = None if mean is None else math.sqrt(max(float(mean_square) - float(mean) ** 2, 0.0))
        others_mean = float(others_total) / int(others_count) if others_count else None
        figures.append(ReviewerFigures(
            reviewer_id, names.get(reviewer_id, ""), int(assigned), int(finished), int(overdue), int(count),
            None if mean is None else float(mean), spread, None if others_mean is None else float(others_mean)))
    return sorted(figures, key=lambda f: (f.name.lower(), f.reviewer_id)), next_due


@dataclass(frozen=True)
class DecisionTimes:
    buckets: list[tuple[int, int]]  # (first day of the bucket, decided applications in it)
    decided: int
    mean_days: float | None


def _days_between(start: Any, end: Any) -> Any:
    if _dialect() == "sqlite":
        return func.julianday(end) - func.julianday(start)
    return func.extract("epoch", end - start) / 86400.0


def _whole(value: Any) -> Any:
    """The largest whole number at or below a non-negative value, in both databases."""
    return cast(value, Integer) if _dialect() == "sqlite" else cast(func.floor(value), Integer)


def decision_times(call_id: int, programme_ids: ProgrammeIds) -> DecisionTimes:
    """Days from submission to decision of the decided applications, per week."""
    days = _days_between(Application.submitted_at, Application.decided_at)
    where = and_(Application.call_id == call_id, Application.decided_at.is_not(None),
                 Application.submitted_at.is_not(None), in_programmes(programme_ids))
    bucket = _whole(days / DECISION_BUCKET_DAYS)
    rows = db.session.execute(select(bucket, func.count()).where(where).group_by(bucket).order_by(bucket)).all()
    decided, mean = db.session.execute(select(func.count(), func.avg(days)).where(where)).one()
    return DecisionTimes([(int(b) * DECISION_BUCKET_DAYS, int(n)) for b, n in rows], int(decided),
                         None if mean is None else float(mean))


# ---------------------------------------------------------------------------- a call's stored figures


@dataclass(frozen=True)
class CallInsights:
    """Every figure of a call's dashboard, and when they were computed."""

    funnel: list[FunnelStage]
    per_day: list[tuple[dt.date, int]]
    scores: list[CriterionScores]
    reviewers: list[ReviewerFigures]
    decisions: DecisionTimes
    computed_at: dt.datetime


def scope_key(programme_ids: ProgrammeIds) -> str:
    return ALL_PROGRAMMES if programme_ids is None else ",".join(str(i) for i in sorted(set(programme_ids)))


def _dump(funnel_counts: Sequence[int], per_day: dict[dt.date, int], scores: dict[int, list[tuple[Decimal, int]]],
          reviewers: Sequence[ReviewerFigures], decisions: DecisionTimes) -> dict[str, Any]:
    """The figures as JSON: decimals as text, so a score of 3.5 comes back as Decimal("3.5")."""
    return {
        "funnel": [int(n) for n in funnel_counts],
        "per_day": {d.isoformat(): n for d, n in per_day.items()},
        "scores": {str(cid): [[str(value), n] for value, n in counts] for cid, counts in scores.items()},
        "reviewers": [[r.reviewer_id, r.name, r.assigned, r.done, r.overdue, r.reviews, r.mean, r.spread,
                       r.others_mean] for r in reviewers],
        "decisions": {"buckets": [list(b) for b in decisions.buckets], "decided": decisions.decided,
                      "mean_days": decisions.mean_days},
    }


def _load(call: Call, figures: dict[str, Any], computed_at: dt.datetime) -> CallInsights:
    scores = {int(cid): [(Decimal(value), int(n)) for value, n in counts] for cid, counts in figures["scores"].items()}
    per_day = {dt.date.fromisoformat(d): int(n) for d, n in figures["per_day"].items()}
    decisions = figures["decisions"]
    return CallInsights(
        _stages(figures["funnel"]), _every_day(call, per_day), _per_criterion(_criteria(call.id), scores),
        [ReviewerFigures(*row) for row in figures["reviewers"]],
        DecisionTimes([(int(b), int(n)) for b, n in decisions["buckets"]], int(decisions["decided"]),
                      decisions["mean_days"]),
        computed_at)


def _compute(call: Call, programme_ids: ProgrammeIds, now: dt.datetime) -> tuple[dict[str, Any], dt.datetime | None]:
    counts = _funnel_counts(and_(Application.call_id == call.id, in_programmes(programme_ids)))
    reviewers, next_due = _reviewer_figures(call.id, programme_ids, now)
    figures = _dump(counts.get(call.id, [0] * len(FUNNEL_STAGES)), _submission_counts(call.id, programme_ids),
                    _score_counts(call.id, programme_ids), reviewers, decision_times(call.id, programme_ids))
    return figures, next_due


def call_insights(call: Call, programme_ids: ProgrammeIds, now: dt.datetime) -> CallInsights:
    """The call's figures for this programme scope: the stored ones while the call's inputs are
    unchanged (``models.insight_inputs``) and no open assignment has become overdue since;
    otherwise computed again from the data and stored (flushed; the request commits).

    The counter is read before the figures are computed, so a change committed meanwhile leaves
    the stored figures stale, never wrongly current."""
    key = scope_key(programme_ids)
    version = db.session.scalar(select(Call.insights_version).where(Call.id == call.id)) or 0
    stored = db.session.scalar(select(CallInsightSnapshot).where(CallInsightSnapshot.call_id == call.id,
                                                                CallInsightSnapshot.scope == key))
    if (stored is not None and stored.inputs_version == version
            and (stored.valid_until is None or now <= stored.valid_until)):
        return _load(call, stored.figures, stored.computed_at)
    figures, next_due = _compute(call, programme_ids, now)
    try:
        # A savepoint: two managers opening the page at once both compute; one stores.
        with db.session.begin_nested():
            if stored is None:
                stored = CallInsightSnapshot(call_id=call.id, scope=key)
                db.session.add(stored)
            stored.inputs_version, stored.computed_at, stored.valid_until = version, now, next_due
            stored.figures = figures
    except IntegrityError:
        pass
    return _load(call, figures, now)


# ---------------------------------------------------------------------------- across calls


@dataclass(frozen=True)
class OccupancyLine:
    site: str
    space_type: str
    capacity: list[int]  # per month
    residents: list[int]
    offered: list[int]

    @property
    def utilisation(self) -> list[float | None]:
        return [r / c if c else None for r, c in zip(self.residents, self.capacity, strict=True)]

    @property
    def free(self) -> list[int]:
        return [max(c - r - o, 0) for c, r, o in zip(self.capacity, self.residents, self.offered, strict=True)]


def months_from(first: dt.date, count: int) -> list[dt.date]:
    if not 1 <= count <= MAX_MONTHS:
        raise ValueError(f"show 1 to {MAX_MONTHS} months")
    return [rm.add_months(rm.month_start(first), n) for n in range(count)]


def _months_table(months: Sequence[dt.date]) -> Any:
    """The months as a small derived table (month, first day after it), to join periods against."""
    return union_all(*[select(literal(n).label("n"), literal(m, Date).label("starts"),
                              literal(rm.add_months(m, 1), Date).label("ends"))
                       for n, m in enumerate(months)]).subquery("months")


def _per_month(query: Select[Any], months: Sequence[dt.date]) -> dict[tuple[int, str], list[int]]:
    found: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * len(months))
    for n, site_id, space_type, value in db.session.execute(query):
        found[(site_id, space_type)][int(n)] = int(value or 0)
    return found


def occupancy_by_month(months: Sequence[dt.date], programme_ids: ProgrammeIds) -> list[OccupancyLine]:
    """Per site and space type and month: places, residents and outstanding offers."""
    table = _months_table(months)
    keys = (table.c.n, Slot.site_id, Slot.space_type)
    capacity = _per_month(
        select(*keys, func.sum(Slot.capacity)).join(table, and_(Slot.starts_on < table.c.ends,
                                                                Slot.ends_on > table.c.starts))
        .where(_slots_in(programme_ids)).group_by(*keys), months)
    residents = _per_month(
        select(*keys, func.count(Residency.id)).join(Slot, Slot.id == Residency.slot_id)
        .join(table, and_(Residency.starts_on < table.c.ends, Residency.ends_on > table.c.starts))
        .where(_slots_in(programme_ids)).group_by(*keys), months)
    offered = _per_month(
        select(*keys, func.count(Offer.id)).join(Slot, Slot.id == Offer.slot_id)
        .join(table, and_(Offer.starts_on < table.c.ends, Offer.ends_on > table.c.starts))
        .where(_slots_in(programme_ids), Offer.state.in_(("proposed", "offered"))).group_by(*keys), months)
    names = dict(db.session.execute(select(Site.id, Site.name)).all())  # sites are a handful of buildings
    empty = [0] * len(months)
    return sorted((OccupancyLine(names[site_id], space_type, capacity[(site_id, space_type)],
                                 residents.get((site_id, space_type), empty),
                                 offered.get((site_id, space_type), empty))
                   for site_id, space_type in capacity), key=lambda line: (line.site, line.space_type))


def _submitted_in_year(year: int, programme_ids: ProgrammeIds) -> ColumnElement[bool]:
    start, end = dt.datetime(year, 1, 1, tzinfo=dt.UTC), dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    return and_(Application.submitted_at >= start, Application.submitted_at < end, in_programmes(programme_ids))


def applications_by(column_name: str, year: int, programme_ids: ProgrammeIds) -> list[tuple[str, int]]:
    """Applications submitted in ``year`` per country or focus area (most first; empty as "")."""
    return applications_by_country_and_focus_area(year, programme_ids)[column_name]


def _most_first(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def applications_by_country_and_focus_area(year: int, programme_ids: ProgrammeIds) -> dict[str, list[tuple[str, int]]]:
    """Applications submitted in ``year`` per country and per focus area (``applications_by``):
    one scan of the year's applications grouped by both (a few hundred pairs at most), summed
    up here, rather than a scan per figure."""
    country, focus_area = func.coalesce(Application.country, ""), func.coalesce(Application.focus_area, "")
    per_country: dict[str, int] = defaultdict(int)
    per_focus_area: dict[str, int] = defaultdict(int)
    for country_code, area, n in db.session.execute(
            select(country, focus_area, func.count()).where(_submitted_in_year(year, programme_ids))
            .group_by(country, focus_area)):
        per_country[country_code] += int(n)
        per_focus_area[area] += int(n)
    return {"country": _most_first(per_country), "focus_area": _most_first(per_focus_area)}


def years_with_data() -> list[int]:
    """The years in which calls opened, newest first (for the year chooser)."""
    rows = db.session.scalars(select(Call.opens_at).order_by(Call.opens_at.desc()).limit(1000))
    return sorted({opened.year for opened in rows}, reverse=True)
