"""The ranking board computed from the reviews themselves: the definition the stored forms are
tested against.

The service reads each application's statistics from ``application_scores`` and the normalised
figures from a per-call snapshot (``services/ranking.py``). Here every row is computed over the
whole call in one pass, as the board was before it stored anything: the applications, one
aggregate of the weighted scores per application (with three reviews or fewer the individual
scores follow from count, sum, min and max), review progress, criterion means, programme
preferences, then ranks (``domain.scoring``), filters and sorting. Tests compare the stored
board with this, row for row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Float, Row, and_, case, cast, func, select

from incubator.database import utcnow
from incubator.domain.memory import garbage_collection_paused
from incubator.domain.scoring import (
    EMPTY,
    AppScores,
    CriterionRule,
    aggregate_many,
    normalised_array,
    rank,
    threshold_failures,
    weighted_scale,
)
from incubator.models import Application, Assignment, Call, ProgrammePreference, Review, Score
from incubator.services.ranking import (
    LISTED_STATES,
    RANKED_STATES,
    BoardQuery,
    RankingError,
    RankingRow,
    _execute,
    _in_call,
    _programmes_query,
    _progress_query,
    _submitted_reviews,
    _take_programmes,
    _take_progress,
    criterion_rules,
)
from incubator.services.scope import application_scope_clause


def ranking_in_python(call: Call, options: BoardQuery, *, all_criterion_means: bool = False,
                       now: dt.datetime | None = None) -> list[RankingRow]:
    """Every row computed from the reviews themselves: the normalised board's way, and the
    definition the stored statistics are tested against."""
    rules = criterion_rules(call)
    wanted = [rule.id for rule in rules if all_criterion_means or rule.threshold is not None]
    with garbage_collection_paused():
        rows = _application_rows(call.id)
        _attach_scores(rows, call, rules, options.normalised)
        within = _call_filter(call.id)
        _attach_progress(rows, within, now or utcnow())
        _attach_criterion_means(rows, within, wanted, rules)
        _attach_programmes(rows, within)
        ordered = _attach_ranks(rows, options.normalised)
        shown = [row for row in ordered if _passes(row, options.programme_id, options.state, options.flag)]
        return _sort_ranked(shown, options.sort, options.descending)


def _call_filter(call_id: int) -> Callable[[Any], ColumnElement[bool]]:
    return lambda column: _in_call(column, call_id)


@dataclass
class ReviewTotals:
    """Count, sum, min and max of each application's submitted weighted scores (parallel arrays)."""

    application_ids: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    minima: np.ndarray
    maxima: np.ndarray

    @property
    def has_more_than_three(self) -> bool:
        return bool(self.counts.size and self.counts.max() > 3)

    def scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Every application's individual scores, rebuilt from the totals when n ≤ 3.

        One score is the minimum; two are the minimum and the maximum; of three, the middle
        one is the sum less the other two (exact but for float rounding, ~1e-15). So the usual call, three reviewers each, needs no
        row per review for its median and spread, only one aggregate row per application.
        """
        import numpy as np
        one, two, three = self.counts >= 1, self.counts >= 2, self.counts == 3
        middle = self.sums - self.minima - self.maxima
        ids = np.concatenate([self.application_ids[one], self.application_ids[two], self.application_ids[three]])
        values = np.concatenate([self.minima[one], self.maxima[two], middle[three]])
        return ids, values


def _application_rows(call_id: int) -> dict[int, RankingRow]:
    result = _execute(
        select(Application.id, Application.company_name, Application.state, Application.submitted_at)
        .where(Application.call_id == call_id, Application.state.in_(LISTED_STATES),
               # Core, so the ORM's scope filter does not see it; every other part of the board
               # attaches to these rows only.
               application_scope_clause(Application.id))
    )
    return {
        application_id: RankingRow(application_id, company or "", state, submitted_at, [], [])
        for application_id, company, state, submitted_at in result
    }


def _review_totals(call_id: int) -> ReviewTotals:
    """The one aggregate over the call's submitted reviews: n, sum, min and max per application."""
    import numpy as np
    score = cast(Review.weighted_score, Float)
    result = _execute(
        select(Review.application_id, func.count(), func.sum(score), func.min(score), func.max(score))
        .where(_in_call(Review.application_id, call_id), Review.state == "submitted",
               Review.weighted_score.is_not(None))
        .group_by(Review.application_id)
    )
    columns = list(zip(*result, strict=True)) or [(), (), (), (), ()]
    ids, counts, sums, minima, maxima = columns
    return ReviewTotals(np.asarray(ids, dtype=np.int64), np.asarray(counts, dtype=np.int64),
                        np.asarray(sums, dtype=np.float64), np.asarray(minima, dtype=np.float64),
                        np.asarray(maxima, dtype=np.float64))


def _attach_progress(rows: Mapping[int, RankingRow], within: Callable[[Any], ColumnElement[bool]],
                     now: dt.datetime) -> None:
    """k assigned, and how many assignments are past due without a submitted review."""
    _take_progress(rows, _execute(_progress_query(within(Assignment.application_id), now)))


def _attach_criterion_means(rows: Mapping[int, RankingRow], within: Callable[[Any], ColumnElement[bool]],
                            criterion_ids: Sequence[int], rules: Sequence[CriterionRule]) -> None:
    """Mean score per criterion over the submitted reviews, and the thresholds those fail."""
    if not criterion_ids:
        return
    # A pivot, AVG(CASE ...) per criterion: one row per application instead of one per pair.
    means = [cast(func.avg(case((Score.criterion_id == criterion_id, Score.value))), Float)
             for criterion_id in criterion_ids]
    result = _execute(
        select(Review.application_id, *means)
        .join(Score, and_(Score.review_id == Review.id, Score.criterion_id.in_(criterion_ids)))
        .where(within(Review.application_id), Review.state == "submitted")
        .group_by(Review.application_id)
    )
    for application_id, *values in result:
        row = rows.get(application_id)
        if row is not None:
            row.criterion_means = {criterion_id: value for criterion_id, value in zip(criterion_ids, values, strict=True)
                                   if value is not None}
    _attach_threshold_failures(rows, result, criterion_ids, rules)


def _attach_threshold_failures(rows: Mapping[int, RankingRow], result: Sequence[Row[Any]],
                               criterion_ids: Sequence[int], rules: Sequence[CriterionRule]) -> None:
    """``domain.scoring.threshold_failures`` for the rows that can fail at all.

    Only a mean below a threshold can fail it, so numpy picks those rows out of the
    100,000 first and the domain rule (with its tolerance for float noise) decides them.
    """
    import numpy as np
    with_threshold = [rule for rule in rules if rule.threshold is not None and rule.id in criterion_ids]
    if not with_threshold or not result:
        return
    columns = [criterion_ids.index(rule.id) + 1 for rule in with_threshold]
    table = np.array([[row[column] for column in columns] for row in result], dtype=np.float64)  # None → nan
    limits = np.array([float(rule.threshold) for rule in with_threshold])  # type: ignore[arg-type]
    for index in np.flatnonzero((table < limits).any(axis=1)).tolist():
        row = rows.get(result[index][0])
        if row is not None:
            row.threshold_failures = threshold_failures(with_threshold, row.criterion_means)


def _attach_programmes(rows: Mapping[int, RankingRow], within: Callable[[Any], ColumnElement[bool]]) -> None:
    _take_programmes(rows, _execute(_programmes_query(within(ProgrammePreference.application_id))))


def _attach_scores(rows: Mapping[int, RankingRow], call: Call, rules: Sequence[CriterionRule],
                   normalised: bool) -> None:
    """Raw (and normalised) aggregates from one query: the totals, or the reviews when needed."""
    if not normalised:
        totals = _review_totals(call.id)
        if not totals.has_more_than_three:
            _attach_scores_from_totals(rows, totals, call.disagreement_threshold)
            return
    # Normalising works per reviewer, and a median of four or more needs every score.
    _attach_scores_from_reviews(rows, _submitted_reviews(call.id), rules, call.disagreement_threshold, normalised)


def _attach_scores_from_totals(rows: Mapping[int, RankingRow], totals: ReviewTotals,
                               disagreement_threshold: Any) -> None:
    for application_id, scores in aggregate_many(*totals.scores(), disagreement_threshold).items():
        row = rows.get(application_id)
        if row is not None:  # reviews of a draft cannot exist, but a stray one must not break the board
            row.scores, row.reviews_submitted = scores, scores.count


def _attach_scores_from_reviews(rows: Mapping[int, RankingRow], reviews: tuple[np.ndarray, np.ndarray, np.ndarray],
                                rules: Sequence[CriterionRule], disagreement_threshold: Any,
                                normalised: bool) -> None:
    application_ids, reviewer_ids, scores = reviews
    for application_id, scores_of_one in aggregate_many(application_ids, scores, disagreement_threshold).items():
        row = rows.get(application_id)
        if row is not None:
            row.scores, row.reviews_submitted = scores_of_one, scores_of_one.count
    if not normalised:
        return
    corrected = normalised_array(reviewer_ids, scores, weighted_scale(rules)) if rules else scores
    normalised_by_application = aggregate_many(application_ids, corrected)
    for row in rows.values():
        row.normalised = normalised_by_application.get(row.application_id, EMPTY)


def _attach_ranks(rows: Mapping[int, RankingRow], normalised: bool) -> list[RankingRow]:
    """Number the ranked rows and return every row in rank order (unranked last, by id)."""
    candidates = [
        AppScores(row.application_id, row.submitted_at, row.scores, row.normalised)
        for row in rows.values()
        if row.state in RANKED_STATES and row.scores.count > 0
    ]
    ordered = []
    for position, app in enumerate(rank(candidates, "mean", normalised), start=1):
        row = rows[app.application_id]
        row.rank = position
        ordered.append(row)
    ordered += sorted((row for row in rows.values() if row.rank is None), key=lambda row: row.application_id)
    return ordered


def _passes(row: RankingRow, programme_id: int | None, state: str | None, flag: str | None) -> bool:
    if programme_id is not None and programme_id not in row.programme_ids:
        return False
    if state is not None and row.state != state:
        return False
    # Without a state filter, withdrawn applications stay out of the way; asking shows them.
    if state is None and row.state not in RANKED_STATES:
        return False
    return flag is None or row.has_flag(flag)


SORT_VALUES: dict[str, Callable[[RankingRow], Any]] = {
    "rank": lambda row: row.rank,
    "company": lambda row: row.company_name.casefold() or None,
    "programmes": lambda row: row.programmes[0].casefold() if row.programmes else None,
    "state": lambda row: row.state,
    "reviews": lambda row: (row.reviews_submitted, row.reviews_assigned),
    "mean": lambda row: row.scores.mean,
    "median": lambda row: row.scores.median,
    "std": lambda row: row.scores.std,
    "range": lambda row: row.scores.range,
    "normalised": lambda row: row.normalised.mean if row.normalised else None,
    "flags": lambda row: row.flag_count,
    "submitted": lambda row: row.submitted_at,
}


def sort_rows(rows: Iterable[RankingRow], sort: str, descending: bool) -> list[RankingRow]:
    """Rows by one column; ties keep rank order, and rows without a value go last either way."""
    in_rank_order = sorted(rows, key=lambda row: (row.rank is None, row.rank or 0, row.application_id))
    return _sort_ranked(in_rank_order, sort, descending)


def _sort_ranked(in_rank_order: list[RankingRow], sort: str, descending: bool) -> list[RankingRow]:
    """``sort_rows`` for rows already in rank order, as the board has them."""
    if sort not in SORT_VALUES:
        raise RankingError(f"unknown sort column {sort!r}")
    if sort == "rank":  # already in that order; unranked rows stay last either way
        ranked = [row for row in in_rank_order if row.rank is not None]
        unranked = in_rank_order[len(ranked):]
        return (ranked[::-1] if descending else ranked) + unranked
    value = SORT_VALUES[sort]
    decorated = [(value(row), row) for row in in_rank_order]
    present = [pair for pair in decorated if pair[0] is not None]
    missing = [row for key, row in decorated if key is None]
    # Python's sort is stable also with reverse=True, so equal values stay in rank order.
    present.sort(key=itemgetter(0), reverse=descending)
    return [row for _, row in present] + missing
