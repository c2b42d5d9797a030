"""Scoring a review against a call's rubric, and ranking applications by their reviews.

Pure functions on plain data: no Flask, no database. The services turn ``Criterion`` rows into
``CriterionRule`` values and review rows into ``(application_id, reviewer_id, score)`` tuples;
everything here can be tested and benchmarked without either.

Numbers: scores are checked with ``Decimal`` (so 4.3 is exactly "not on the 0.5 step", which
binary floats cannot say), while aggregates are floats, because they are statistics for people
to read, not money; comparisons against thresholds allow ``EPSILON`` for float noise.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # numpy itself loads inside the functions that compute
    import numpy as np


Number = Decimal | float | int

# Means such as (2.9 + 3.1) / 2 come out a hair under 3.0 in binary floating point; a mean
# within this distance of a threshold counts as meeting it, a spread within it as not above.
EPSILON = 1e-9


class ScoringError(ValueError):
    """Scores that cannot be combined, e.g. a criterion left out; the message says which."""


@dataclass(frozen=True)
class CriterionRule:
    """One line of a rubric as plain data: what the score must look like and how much it counts."""

    id: int
    weight: Number
    scale_min: Number = 0
    scale_max: Number = 5
    step: Number = Decimal("0.5")
    threshold: Number | None = None
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"Criterion {self.id}"


@dataclass(frozen=True)
class ScoreProblem:
    """Why a score is refused, as a message template and its parameters.

    ``str(problem)`` is the English sentence; a caller with Flask-Babel can translate it with
    ``gettext(problem.template, **problem.params)`` (the domain cannot import Flask).
    """

    template: str
    params: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.template % dict(self.params)


def _decimal(value: Number | str) -> Decimal:
    # Through str() so that the float 4.3 becomes Decimal("4.3"), not 4.29999999999999982236431605997495353221893310546875.
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise InvalidOperation("booleans are not scores")
    return Decimal(str(value))


def _show(value: Decimal) -> str:
    """4.30 → "4.3", 5.00 → "5": numbers the way a person wrote them."""
    text = format(value.normalize(), "f")
    return text


def score_problem(rule: CriterionRule, value: Number | str | None) -> ScoreProblem | None:
    """Why ``value`` is not an acceptable score for the criterion, or None when it is."""
    params = {"criterion": rule.label}
    try:
        number = _decimal(value)  # type: ignore[arg-type]
    except (InvalidOperation, TypeError, ValueError):
        return ScoreProblem("%(criterion)s: give a number.", params)
    if not number.is_finite():
        return ScoreProblem("%(criterion)s: give a number.", params)
    low, high, step = _decimal(rule.scale_min), _decimal(rule.scale_max), _decimal(rule.step)
    shown = {**params, "value": _show(number), "min": _show(low), "max": _show(high), "step": _show(step)}
    if number < low or number > high:
        return ScoreProblem("%(criterion)s: %(value)s is outside the scale %(min)s–%(max)s.", shown)
    if (number - low) % step != 0:
        return ScoreProblem("%(criterion)s: %(value)s is not on the %(step)s step.", shown)
    return None


def validate_score(rule: CriterionRule, value: Number | str | None) -> str | None:
    """The reason ``value`` is refused (e.g. "Team: 4.3 is not on the 0.5 step."), or None."""
    problem = score_problem(rule, value)
    return None if problem is None else str(problem)


def weighted_score(rules: Sequence[CriterionRule], scores: Mapping[int, Number]) -> float:
    """Σ weight·score / Σ weight, on the rubric's own scale; every criterion must be scored.

    Scores are not range-checked here (``validate_score`` does that where they are entered);
    a missing or unknown criterion is an error rather than silently ignored, because a total
    over five of six criteria would rank an application on a different basis from the rest.
    """
    if not rules:
        raise ScoringError("The rubric has no criteria.")
    known = {rule.id for rule in rules}
    missing = [rule.label for rule in rules if rule.id not in scores]
    if missing:
        raise ScoringError("No score for " + ", ".join(missing) + ".")
    unknown = sorted(set(scores) - known, key=str)
    if unknown:
        raise ScoringError("Scores for criteria not in this rubric: " + ", ".join(map(str, unknown)) + ".")
    total_weight = sum((_decimal(rule.weight) for rule in rules), Decimal(0))
    if total_weight <= 0:
        raise ScoringError("The criteria's weights add up to nothing.")
    total = sum((_decimal(rule.weight) * _decimal(scores[rule.id]) for rule in rules), Decimal(0))
    return float(total / total_weight)


def weighted_scale(rules: Sequence[CriterionRule]) -> tuple[float, float]:
    """The lowest and highest weighted score the rubric allows (its scale when all agree)."""
    if not rules:
        raise ScoringError("The rubric has no criteria.")
    total_weight = sum((_decimal(rule.weight) for rule in rules), Decimal(0))
    low = sum((_decimal(rule.weight) * _decimal(rule.scale_min) for rule in rules), Decimal(0))
    high = sum((_decimal(rule.weight) * _decimal(rule.scale_max) for rule in rules), Decimal(0))
    return float(low / total_weight), float(high / total_weight)


def threshold_failures(rules: Sequence[CriterionRule], per_criterion_means: Mapping[int, float | None]) -> list[int]:
    """Ids of the criteria whose mean over reviewers is below their threshold, in rubric order.

    A criterion nobody has scored yet has no mean and does not fail: "not reviewed" is shown
    by the review progress, not disguised as a failure.
    """
    failures = []
    for rule in rules:
        mean = per_criterion_means.get(rule.id)
        if rule.threshold is not None and mean is not None and mean < float(rule.threshold) - EPSILON:
            failures.append(rule.id)
    return failures


class Aggregate(NamedTuple):
    """What the submitted reviews of one application say together.

    A named tuple rather than a dataclass: immutable, and a board of 100,000 applications
    builds 100,000 of them, four times faster than frozen dataclasses.
    """

    count: int
    mean: float | None = None
    median: float | None = None
    std: float | None = None  # population standard deviation: the reviews are all there are
    minimum: float | None = None
    maximum: float | None = None
    disagreement: bool = False

    @property
    def range(self) -> float | None:
        if self.minimum is None or self.maximum is None:
            return None
        return self.maximum - self.minimum


EMPTY = Aggregate(count=0)


def aggregate(scores: Sequence[float], disagreement_threshold: Number | None = None) -> Aggregate:
    """Mean, median, population std and range of weighted scores; flagged when std > threshold.

    Population, not sample, deviation: the three reviews of an application are the whole
    population we judge it by, and a sample estimate would flag pairs of reviewers far sooner.
    """
    n = len(scores)
    if n == 0:
        return EMPTY
    ordered = sorted(scores)
    mean = math.fsum(ordered) / n
    middle = n // 2
    median = ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / n)
    flagged = disagreement_threshold is not None and std > float(disagreement_threshold) + EPSILON
    return Aggregate(count=n, mean=mean, median=median, std=std, minimum=ordered[0], maximum=ordered[-1],
                     disagreement=flagged)


def aggregate_many(application_ids: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                   disagreement_threshold: Number | None = None) -> dict[int, Aggregate]:
    """``aggregate`` for every application at once: ids and scores are parallel sequences.

    Vectorised with numpy, because a call of 100,000 applications has 300,000 reviews and a
    Python loop over them would be most of the ranking board's time. Gives the same numbers
    as ``aggregate`` per application (to float rounding; the tests compare them).
    """
    import numpy as np
    columns = aggregate_columns(application_ids, scores)
    if columns.application_ids.size == 0:
        return {}
    if disagreement_threshold is None:
        flagged = np.zeros(columns.application_ids.size, dtype=bool)
    else:
        flagged = columns.stds > float(disagreement_threshold) + EPSILON
    return {
        application_id: Aggregate(count, mean, median, std, low, high, flag)
        for application_id, count, mean, median, std, low, high, flag in zip(
            columns.application_ids.tolist(), columns.counts.tolist(), columns.means.tolist(),
            columns.medians.tolist(), columns.stds.tolist(), columns.minima.tolist(), columns.maxima.tolist(),
            flagged.tolist(), strict=True,
        )
    }


class AggregateColumns(NamedTuple):
    """``aggregate_many``'s figures as parallel arrays, one entry per application (ascending id):
    for storing them in bulk without building an ``Aggregate`` per application."""

    application_ids: np.ndarray
    counts: np.ndarray
    means: np.ndarray
    medians: np.ndarray
    stds: np.ndarray
    minima: np.ndarray
    maxima: np.ndarray


def aggregate_columns(application_ids: Sequence[int] | np.ndarray,
                      scores: Sequence[float] | np.ndarray) -> AggregateColumns:
    """The statistics of ``aggregate_many``, vectorised, as arrays."""
    import numpy as np
    ids = np.asarray(application_ids, dtype=np.int64)
    values = np.asarray(scores, dtype=np.float64)
    if ids.size == 0:
        empty = np.zeros(0)
        return AggregateColumns(ids, ids, empty, empty, empty, empty, empty)
    order = np.lexsort((values, ids))  # by application, then score: medians need sorted groups
    ids, values = ids[order], values[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    counts = np.diff(np.r_[starts, ids.size])
    means = np.add.reduceat(values, starts) / counts
    deviations = values - np.repeat(means, counts)
    stds = np.sqrt(np.add.reduceat(deviations * deviations, starts) / counts)
    lower, upper = starts + (counts - 1) // 2, starts + counts // 2  # the same index when odd
    medians = (values[lower] + values[upper]) / 2
    return AggregateColumns(ids[starts], counts, means, medians, stds, values[starts], values[starts + counts - 1])


# --- Normalising harsh and lenient reviewers ------------------------------------------------------


def normalise_scores(
    reviews: Iterable[tuple[int, int, float]],
    scale: tuple[float, float],
    *,
    min_reviews: int = 2,
) -> dict[tuple[int, int], float]:
    """Each review's weighted score corrected for its reviewer's harshness or leniency.

    ``reviews`` holds ``(application_id, reviewer_id, weighted_score)`` for every submitted
    review of one call; the result maps ``(application_id, reviewer_id)`` to the corrected score.

    The rule:

    * A reviewer with at least ``min_reviews`` reviews and some spread is z-scored within the
      call, ``z = (x − reviewer mean) / reviewer std``, and z is mapped back onto the rubric's
      scale with the call-wide mean M and std S of all weighted scores: ``M + z·S``. A reviewer
      who is one point harsher on everyone gets exactly the same corrected scores as a fair
      one, and so does one who uses only half the scale.
    * A reviewer with at least ``min_reviews`` reviews but the same score for all of them
      expresses no preference between them; their scores are shifted by (M − reviewer mean),
      which puts each at M: "as good as the average", the only thing such reviews tell apart.
    * A reviewer with fewer than ``min_reviews`` reviews keeps the raw score. With a single
      review their bias cannot be told apart from the application's merit, and shifting by
      (M − reviewer mean) would set the score to exactly M, erasing the review altogether.
      Raw scores already live on the scale the corrected ones are mapped back onto.

    Results are clipped to ``scale`` (the rubric's weighted range), because z-scores of a
    reviewer with a narrow spread can otherwise land outside what the rubric allows.

    The correction assumes each reviewer saw a roughly representative mix of applications; a
    reviewer given only the strongest ones is pulled down unfairly, which is why the board
    shows it as a toggle beside the raw scores rather than instead of them.
    """
    rows = list(reviews)
    if not rows:
        return {}
    application_ids, reviewer_ids, scores = zip(*rows, strict=True)
    corrected = normalised_array(reviewer_ids, scores, scale, min_reviews=min_reviews)
    return dict(zip(zip(application_ids, reviewer_ids, strict=True), corrected.tolist(), strict=True))


def normalised_array(reviewer_ids: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray,
                     scale: tuple[float, float], *, min_reviews: int = 2) -> np.ndarray:
    """``normalise_scores`` on parallel arrays (one entry per review), vectorised.

    Returns the corrected scores in the input's order. The rule is the one documented on
    ``normalise_scores``; this is the form the ranking service uses for 300,000 reviews.
    """
    import numpy as np
    reviewers = np.asarray(reviewer_ids, dtype=np.int64)
    values = np.asarray(scores, dtype=np.float64)
    if values.size == 0:
        return values
    call_mean, call_std = values.mean(), values.std()  # population std (ddof=0)
    _, index, counts = np.unique(reviewers, return_inverse=True, return_counts=True)
    means = np.bincount(index, weights=values) / counts
    deviations = values - means[index]
    stds = np.sqrt(np.bincount(index, weights=deviations * deviations) / counts)
    count, mean, std = counts[index], means[index], stds[index]
    flat = std <= EPSILON
    z = deviations / np.where(flat, 1.0, std)
    corrected = np.where(count < min_reviews, values,
                         np.where(flat, values + (call_mean - mean), call_mean + z * call_std))
    low, high = scale
    return np.clip(corrected, low, high)


def normalised_one(score: float, reviewer: tuple[int, float, float], call: tuple[float, float],
                   scale: tuple[float, float], *, min_reviews: int = 2) -> float:
    """One review's corrected score from summary statistics alone: ``reviewer`` is the
    reviewer's (count, mean, population std) over the call, ``call`` the call's (mean,
    population std) of all weighted scores. The rule of ``normalise_scores``, for a page that
    shows one application and cannot afford every review of the call."""
    count, mean, std = reviewer
    call_mean, call_std = call
    if count < min_reviews:
        corrected = score
    elif std <= EPSILON:
        corrected = score + (call_mean - mean)
    else:
        corrected = call_mean + (score - mean) / std * call_std
    low, high = scale
    return min(max(corrected, low), high)


# --- Ranking ---------------------------------------------------------------------------------------

RANK_BY = ("mean", "median")


class AppScores(NamedTuple):
    """An application's aggregates, raw and (when computed) normalised, ready to rank."""

    application_id: int
    submitted_at: dt.datetime | None
    scores: Aggregate
    normalised: Aggregate | None = None

    def value(self, by: str, normalised: bool) -> float | None:
        source = self.normalised if normalised else self.scores
        return None if source is None else getattr(source, by)


def rank(applications: Sequence[AppScores], by: str = "mean", normalised: bool = False) -> list[AppScores]:
    """Best first: by the chosen statistic descending, then earlier submission, then lower id.

    The tie-breaks make the order total, so the same data always gives the same board. An
    earlier submission wins a tie because it is the one fact about the application that the
    committee did not produce; the id settles anything left (including missing times).
    Applications without a score (no submitted review yet) come last, in the same order.
    """
    if by not in RANK_BY:
        raise ValueError(f"cannot rank by {by!r}; use one of {', '.join(RANK_BY)}")
    order = rank_order(
        [app.value(by, normalised) for app in applications],
        [app.submitted_at for app in applications],
        [app.application_id for app in applications],
    )
    return [applications[index] for index in order.tolist()]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NEVER = 2**63 - 1  # int64 max, written out so numpy need not load at import
_MICROSECOND = dt.timedelta(microseconds=1)


def rank_order(values: Sequence[float | None], submitted_at: Sequence[dt.datetime | None],
               application_ids: Sequence[int]) -> np.ndarray:
    """The positions of ``rank``'s order, from parallel sequences: one numpy lexsort.

    Submission times become whole microseconds since 1970 (exact, unlike float seconds,
    which cannot tell two microseconds apart at today's timestamps); naive times count as
    UTC and a missing time as later than any.
    """
    import numpy as np
    missing = np.fromiter((value is None for value in values), dtype=bool, count=len(values))
    negated = np.fromiter((0.0 if value is None else -value for value in values), dtype=np.float64,
                          count=len(values))
    submitted = np.fromiter((_microseconds(moment) for moment in submitted_at), dtype=np.int64,
                            count=len(submitted_at))
    ids = np.asarray(application_ids, dtype=np.int64)
    return np.lexsort((ids, submitted, negated, missing))  # the last key sorts first


def _microseconds(moment: dt.datetime | None) -> int:
    if moment is None:
        return _NEVER
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (moment - _EPOCH) // _MICROSECOND
