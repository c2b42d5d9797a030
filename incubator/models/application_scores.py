"""What the submitted reviews of each application say, kept current as reviews change.

One row per application with at least one submitted, scored review: count, mean, median,
population std, min and max of the reviews' weighted scores (``domain.scoring.aggregate_many``,
so the numbers are exactly the ones the board computed from the reviews before), how many of
the rubric's thresholds its per-criterion means miss, and, copied from the application, its
call, its submission time and whether its state is ranked. The ranking board orders a call by
``(mean DESC, submitted_at, application_id)`` on ``ix_application_scores_rank``, so a page is an
index scan with a limit rather than a computation over every review of the call.

Kept current in the flush that changes what it summarises, so it commits or rolls back with
it (the same way as ``models.match_inputs``): a review inserted, edited or deleted, a score
changed, an application's state or submission time changed, an application deleted. Bulk SQL
past the unit of work (``services.conflicts`` deleting a reviewer's reviews, bulk loaders) calls
``refresh_application_scores`` itself; ``rebuild_call_scores`` recomputes a whole call.

Whether reviewers disagree is not stored: it compares the stored std with the call's current
threshold when read. The thresholds are stored as a count because the rubric cannot change
once reviewing has started (``services.rubric``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Connection,
    Double,
    Float,
    ForeignKey,
    Index,
    Integer,
    cast,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from incubator.domain.applications import ApplicationState
from incubator.domain.scoring import CriterionRule, aggregate_many, threshold_failures
from incubator.extensions import db
from incubator.models.applications import Application
from incubator.models.programmes import Criterion
from incubator.models.reviews import Review, Score

# Drafts have no reviews; withdrawn applications keep theirs but are never ranked.
UNRANKED_STATES = frozenset({ApplicationState.DRAFT.value, ApplicationState.WITHDRAWN.value})
APPLICATION_FIELDS = ("state", "submitted_at", "call_id")
REFRESH_BATCH = 500  # applications per recomputation when a call is rebuilt


class ApplicationScore(db.Model):
    __tablename__ = "application_scores"
    __table_args__ = (
        # The board's rank order: a page of it, and a row's rank (rows ahead of it), are range
        # scans of this index. All columns ascending (the best mean first through its negation):
        # a plain index, which both databases and Alembic's comparison treat alike.
        Index("ix_application_scores_rank", "call_id", "ranked", "negated_mean", "submitted_at", "application_id"),
    )

    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"),
                                                primary_key=True, autoincrement=False)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    ranked: Mapped[bool] = mapped_column(Boolean)
    submitted_at: Mapped[dt.datetime | None]
    reviews_submitted: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float] = mapped_column(Double)
    negated_mean: Mapped[float] = mapped_column(Double)  # -mean, exactly (a sign flip loses nothing)
    median: Mapped[float] = mapped_column(Double)
    std: Mapped[float] = mapped_column(Double)
    minimum: Mapped[float] = mapped_column(Double)
    maximum: Mapped[float] = mapped_column(Double)
    below_threshold: Mapped[int] = mapped_column(Integer, default=0)
    # {criterion id (as text, JSON's keys): mean score over the submitted reviews}: the board's
    # threshold flags and the CSV's per-criterion columns without reading any score row.
    criterion_means: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


def refresh_application_scores(connection: Connection, application_ids: Collection[int]) -> None:
    """Recompute the rows of these applications from their reviews (a few ids at a time)."""
    ids = sorted(set(application_ids))
    for start in range(0, len(ids), REFRESH_BATCH):
        _refresh(connection, ids[start:start + REFRESH_BATCH])


def rebuild_call_scores(connection: Connection, call_id: int) -> None:
    """Recompute every row of a call (after bulk loading, or to repair)."""
    ids = list(connection.scalars(select(Application.id).where(Application.call_id == call_id)
                                  .order_by(Application.id)))
    connection.execute(delete(ApplicationScore).where(ApplicationScore.call_id == call_id))
    refresh_application_scores(connection, ids)


def _refresh(connection: Connection, ids: Sequence[int]) -> None:
    # Lock the applications first (PostgreSQL; SQLite has one writer at a time): two reviews of
    # one application submitted at once would otherwise each count only their own and the
    # second insert would collide with the first. Waiting here, the second transaction's later
    # statements see the first one's review (read committed). In id order; and FOR NO KEY
    # UPDATE, which the key-share locks of the flush's own foreign-key checks (a review's
    # application) do not block, where FOR UPDATE deadlocked two such flushes.
    applications = {row.id: row for row in connection.execute(
        select(Application.id, Application.call_id, Application.state, Application.submitted_at)
        .where(Application.id.in_(ids)).order_by(Application.id).with_for_update(key_share=True))}
    connection.execute(delete(ApplicationScore).where(ApplicationScore.application_id.in_(ids)))
    reviews = connection.execute(
        select(Review.application_id, cast(Review.weighted_score, Float))
        .where(Review.application_id.in_(ids), Review.state == "submitted", Review.weighted_score.is_not(None))
    ).all()
    if not reviews or not applications:
        return
    review_ids, scores = zip(*reviews, strict=True)
    aggregates = aggregate_many(review_ids, scores)
    means = _criterion_means(connection, ids)
    rules = _threshold_rules(connection, {row.call_id for row in applications.values()})
    rows = [
        {"application_id": application_id, "call_id": applications[application_id].call_id,
         "ranked": applications[application_id].state not in UNRANKED_STATES,
         "submitted_at": applications[application_id].submitted_at,
         "reviews_submitted": summary.count, "mean": summary.mean, "negated_mean": -summary.mean, "median": summary.median,
         "std": summary.std, "minimum": summary.minimum, "maximum": summary.maximum,
         "below_threshold": len(threshold_failures(rules, means.get(application_id, {}))),
         "criterion_means": {str(key): value for key, value in means.get(application_id, {}).items()}}
        for application_id, summary in aggregates.items() if application_id in applications
    ]
    if rows:
        connection.execute(insert(ApplicationScore), rows)


def _threshold_rules(connection: Connection, call_ids: Iterable[int]) -> list[CriterionRule]:
    return [CriterionRule(id=criterion_id, weight=1, threshold=threshold)
            for criterion_id, threshold in connection.execute(
                select(Criterion.id, Criterion.threshold)
                .where(Criterion.call_id.in_(sorted(call_ids)), Criterion.threshold.is_not(None)))]


def _criterion_means(connection: Connection, ids: Sequence[int]) -> dict[int, dict[int, float]]:
    """Each application's mean score per criterion over its submitted reviews (as the board
    computed them: SQL's AVG, as a float)."""
    means: dict[int, dict[int, float]] = {}
    for application_id, criterion_id, mean in connection.execute(
        select(Review.application_id, Score.criterion_id, cast(func.avg(Score.value), Float))
        .join(Score, Score.review_id == Review.id)
        .where(Review.application_id.in_(ids), Review.state == "submitted")
        .group_by(Review.application_id, Score.criterion_id)
    ):
        if mean is not None:
            means.setdefault(application_id, {})[criterion_id] = mean
    return means


# --- Kept current by the unit of work --------------------------------------------------------------


def _values(instance: object, attribute: str) -> set[Any]:
    """The attribute's value and, if this flush changes it, its previous value."""
    history = inspect(instance).attrs[attribute].history
    return {*history.added, *history.unchanged, *history.deleted} - {None}


def _touched(session: Session) -> tuple[set[int], set[int]]:
    """Applications whose summary this flush may change, and reviews to trace to theirs."""
    applications: set[int] = set()
    reviews: set[int] = set()
    # A new application has no reviews yet; a deleted one must lose its row (SQLite does not
    # cascade foreign keys).
    changes = [(instance, False) for instance in session.new if not isinstance(instance, Application)]
    changes += [(instance, False) for instance in session.deleted]
    changes += [(instance, True) for instance in session.dirty
                if session.is_modified(instance, include_collections=False)]
    for instance, edited in changes:
        if isinstance(instance, Review):
            applications |= _values(instance, "application_id")
        elif isinstance(instance, Score):
            reviews |= _values(instance, "review_id")
        elif isinstance(instance, Application):
            if edited and not any(inspect(instance).attrs[name].history.has_changes()
                                  for name in APPLICATION_FIELDS):
                continue
            applications |= {inspect(instance).identity[0]} if inspect(instance).identity else set()
    return {value for value in applications if isinstance(value, int)}, {value for value in reviews
                                                                          if isinstance(value, int)}


@event.listens_for(Session, "after_flush")
def _keep_scores_current(session: Session, _flush: UOWTransaction) -> None:
    applications, reviews = _touched(session)
    if not applications and not reviews:
        return
    connection = session.connection()
    if reviews:
        applications |= set(connection.scalars(select(Review.application_id).where(Review.id.in_(sorted(reviews)))))
    refresh_application_scores(connection, applications)
