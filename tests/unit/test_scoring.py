"""domain.scoring: validating scores, weighting them, aggregating reviews, normalising
reviewers and ranking applications, with exact numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incubator.domain.scoring import (
    Aggregate,
    AppScores,
    CriterionRule,
    ScoringError,
    aggregate,
    aggregate_many,
    normalise_scores,
    normalised_array,
    normalised_one,
    rank,
    score_problem,
    threshold_failures,
    validate_score,
    weighted_scale,
    weighted_score,
)

TEAM = CriterionRule(id=1, weight=Decimal(20), step=Decimal("0.5"), threshold=Decimal(3), name="Team")
SCIENCE = CriterionRule(id=2, weight=Decimal(20), step=Decimal("0.5"), threshold=Decimal(3), name="Science")
IP = CriterionRule(id=3, weight=Decimal(15), name="IP position")
MARKET = CriterionRule(id=4, weight=Decimal(45), name="Market")
RUBRIC = [TEAM, SCIENCE, IP, MARKET]


# --- validate_score --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, None),
        (5, None),
        (Decimal("4.5"), None),
        (3.5, None),
        ("2.5", None),
        (4.3, "Team: 4.3 is not on the 0.5 step."),
        (Decimal("4.30"), "Team: 4.3 is not on the 0.5 step."),
        (5.5, "Team: 5.5 is outside the scale 0–5."),
        (-0.5, "Team: -0.5 is outside the scale 0–5."),
        ("abc", "Team: give a number."),
        (None, "Team: give a number."),
        (float("nan"), "Team: give a number."),
        (float("inf"), "Team: give a number."),
        (True, "Team: give a number."),
    ],
)
def test_validate_score_on_a_half_point_scale(value: object, reason: str | None) -> None:
    assert validate_score(TEAM, value) == reason  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "value", "reason"),
    [
        (CriterionRule(id=7, weight=1, scale_min=1, scale_max=10, step=1), 1, None),
        (CriterionRule(id=7, weight=1, scale_min=1, scale_max=10, step=1), 10, None),
        (CriterionRule(id=7, weight=1, scale_min=1, scale_max=10, step=1), 2.5, "Criterion 7: 2.5 is not on the 1 step."),
        (CriterionRule(id=7, weight=1, scale_min=1, scale_max=10, step=1), 0, "Criterion 7: 0 is outside the scale 1–10."),
        # The step counts from the bottom of the scale, not from zero.
        (CriterionRule(id=8, weight=1, scale_min=Decimal("0.5"), scale_max=3, step=1, name="X"), Decimal("2.5"), None),
        (CriterionRule(id=8, weight=1, scale_min=Decimal("0.5"), scale_max=3, step=1, name="X"), 2,
         "X: 2 is not on the 1 step."),
        (CriterionRule(id=9, weight=1, scale_min=0, scale_max=1, step=Decimal("0.1"), name="Y"), 0.3, None),
        (CriterionRule(id=9, weight=1, scale_min=0, scale_max=1, step=Decimal("0.1"), name="Y"), 0.35,
         "Y: 0.35 is not on the 0.1 step."),
    ],
)
def test_validate_score_on_other_scales(rule: CriterionRule, value: object, reason: str | None) -> None:
    assert validate_score(rule, value) == reason  # type: ignore[arg-type]


def test_score_problem_carries_a_translatable_template() -> None:
    problem = score_problem(TEAM, 4.3)
    assert problem is not None
    assert problem.template == "%(criterion)s: %(value)s is not on the %(step)s step."
    assert dict(problem.params) == {"criterion": "Team", "value": "4.3", "min": "0", "max": "5", "step": "0.5"}


# --- weighted_score ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ({1: 5, 2: 5, 3: 5, 4: 5}, 5.0),
        ({1: 0, 2: 0, 3: 0, 4: 0}, 0.0),
        # (20·4 + 20·3 + 15·2 + 45·5) / 100 = (80 + 60 + 30 + 225) / 100
        ({1: 4, 2: 3, 3: 2, 4: 5}, 3.95),
        # (20·2.5 + 20·3.5 + 15·4.5 + 45·1) / 100 = (50 + 70 + 67.5 + 45) / 100
        ({1: Decimal("2.5"), 2: 3.5, 3: "4.5", 4: 1}, 2.325),
    ],
)
def test_weighted_score_is_the_weighted_mean(scores: dict[int, object], expected: float) -> None:
    assert weighted_score(RUBRIC, scores) == pytest.approx(expected, abs=1e-12)  # type: ignore[arg-type]


def test_weighted_score_with_float_weights() -> None:
    rules = [CriterionRule(id=1, weight=0.25), CriterionRule(id=2, weight=0.75)]
    assert weighted_score(rules, {1: 4, 2: 2}) == pytest.approx(2.5)


def test_weighted_score_needs_every_criterion() -> None:
    with pytest.raises(ScoringError, match="No score for Science, Market"):
        weighted_score(RUBRIC, {1: 4, 3: 2})


def test_weighted_score_refuses_criteria_of_another_rubric() -> None:
    with pytest.raises(ScoringError, match="not in this rubric: 99"):
        weighted_score(RUBRIC, {1: 4, 2: 3, 3: 2, 4: 5, 99: 1})


def test_weighted_score_needs_a_rubric() -> None:
    with pytest.raises(ScoringError):
        weighted_score([], {})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 100), st.integers(0, 10)), min_size=1, max_size=8))
def test_weighted_score_stays_within_the_scores_given(pairs: list[tuple[int, int]]) -> None:
    rules = [CriterionRule(id=i, weight=weight) for i, (weight, _) in enumerate(pairs)]
    scores = {i: Decimal(half) / 2 for i, (_, half) in enumerate(pairs)}
    result = weighted_score(rules, scores)
    assert float(min(scores.values())) - 1e-9 <= result <= float(max(scores.values())) + 1e-9


def test_weighted_scale_is_the_weighted_range() -> None:
    assert weighted_scale(RUBRIC) == (0.0, 5.0)
    mixed = [CriterionRule(id=1, weight=1, scale_min=0, scale_max=5), CriterionRule(id=2, weight=3, scale_min=1, scale_max=10)]
    assert weighted_scale(mixed) == (0.75, 8.75)


# --- threshold_failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("means", "failures"),
    [
        ({1: 3.0, 2: 3.0, 3: 0.0, 4: 0.0}, []),  # at the threshold passes; no threshold on 3 and 4
        ({1: 2.5, 2: 4.0}, [1]),
        ({1: 2.999, 2: 1.0}, [1, 2]),
        ({2: 2.0, 1: 1.0}, [1, 2]),  # rubric order, not the mapping's
        ({1: (2.9 + 3.1) / 2}, []),  # 2.9999999999999996 in floats: counts as meeting 3
        ({1: None, 2: None}, []),  # not scored yet is not a failure
        ({}, []),
    ],
)
def test_threshold_failures(means: dict[int, float | None], failures: list[int]) -> None:
    assert threshold_failures(RUBRIC, means) == failures


# --- aggregate ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scores", "mean", "median", "std", "low", "high"),
    [
        ([3.0], 3.0, 3.0, 0.0, 3.0, 3.0),
        ([2.0, 4.0], 3.0, 3.0, 1.0, 2.0, 4.0),
        ([1.0, 2.0, 4.5], 2.5, 2.0, math.sqrt(13 / 6), 1.0, 4.5),  # deviations −1.5, −0.5, 2: (2.25+0.25+4)/3
        ([4.0, 1.0, 3.0, 2.0], 2.5, 2.5, math.sqrt(1.25), 1.0, 4.0),
    ],
)
def test_aggregate_exact_numbers(scores: list[float], mean: float, median: float, std: float,
                                 low: float, high: float) -> None:
    result = aggregate(scores, Decimal("5"))
    assert result.count == len(scores)
    assert result.mean == pytest.approx(mean)
    assert result.median == pytest.approx(median)
    assert result.std == pytest.approx(std)
    assert (result.minimum, result.maximum, result.range) == (low, high, high - low)
    assert result.disagreement is False


@pytest.mark.parametrize(
    ("scores", "threshold", "flagged"),
    [
        ([2.0, 4.0], Decimal("1.00"), False),  # std exactly 1.0 is not above 1.0
        ([2.0, 4.5], Decimal("1.00"), True),  # std 1.25
        ([1.0, 2.0, 4.5], Decimal("1.50"), False),  # std 1.472
        ([1.0, 2.0, 4.5], Decimal("1.45"), True),
        ([3.0, 3.0, 3.0], Decimal("0"), False),
        ([3.0, 3.5], Decimal("0"), True),
        ([0.0, 5.0], None, False),  # no threshold, no flag
    ],
)
def test_disagreement_flag(scores: list[float], threshold: Decimal | None, flagged: bool) -> None:
    assert aggregate(scores, threshold).disagreement is flagged


def test_aggregate_of_nothing() -> None:
    result = aggregate([], Decimal(1))
    assert result == Aggregate(count=0)
    assert (result.mean, result.median, result.std, result.range, result.disagreement) == (None, None, None, None, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50).map(lambda tenths: tenths / 10), min_size=1, max_size=12))
def test_aggregate_matches_the_statistics_module(scores: list[float]) -> None:
    result = aggregate(scores)
    assert result.mean == pytest.approx(statistics.fmean(scores), abs=1e-9)
    assert result.median == pytest.approx(statistics.median(scores), abs=1e-9)
    assert result.std == pytest.approx(statistics.pstdev(scores), abs=1e-9)
    assert result.range == pytest.approx(max(scores) - min(scores), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.integers(0, 10)), max_size=30),
       st.sampled_from([None, Decimal("0"), Decimal("0.5"), Decimal("1.00")]))
def test_aggregate_many_gives_what_aggregate_gives_per_application(pairs: list[tuple[int, int]],
                                                                   threshold: Decimal | None) -> None:
    ids = [application_id for application_id, _ in pairs]
    scores = [half / 2 for _, half in pairs]
    result = aggregate_many(ids, scores, threshold)
    assert set(result) == set(ids)
    for application_id, got in result.items():
        expected = aggregate([score for i, score in zip(ids, scores, strict=True) if i == application_id], threshold)
        assert got.count == expected.count and got.disagreement == expected.disagreement
        assert (got.mean, got.median, got.std, got.minimum, got.maximum) == pytest.approx(
            (expected.mean, expected.median, expected.std, expected.minimum, expected.maximum), abs=1e-9)


def test_aggregate_many_of_nothing() -> None:
    assert aggregate_many([], []) == {}


# --- normalise_scores --------------------------------------------------------------------------------

FAIR = 100
HARSH = 200
SCALE = (0.0, 5.0)


def test_a_harsh_reviewer_ends_up_with_the_fair_reviewers_scores() -> None:
    fair = [(1, FAIR, 4.0), (2, FAIR, 3.0), (3, FAIR, 2.0)]
    harsh = [(4, HARSH, 3.0), (5, HARSH, 2.0), (6, HARSH, 1.0)]  # same judgement, 1 point lower
    result = normalise_scores(fair + harsh, SCALE)
    for (fair_app, _, _), (harsh_app, _, _) in zip(fair, harsh, strict=True):
        assert result[(fair_app, FAIR)] == pytest.approx(result[(harsh_app, HARSH)])
    # Call mean M = 15/6 = 2.5, deviations ±1.5, ±0.5, ±0.5 give S = sqrt(5.5/6); each
    # reviewer's std is sqrt(2/3), so z = ±sqrt(3/2) and 0, mapped back to M ± sqrt(3/2)·S.
    call_std = math.sqrt(5.5 / 6)
    assert result[(1, FAIR)] == pytest.approx(2.5 + math.sqrt(1.5) * call_std)
    assert result[(2, FAIR)] == pytest.approx(2.5)
    assert result[(3, FAIR)] == pytest.approx(2.5 - math.sqrt(1.5) * call_std)


def test_the_same_applications_judged_by_a_harsh_and_a_lenient_reviewer_get_the_same_scores() -> None:
    # Both review the same three applications; one is 1.5 points harsher across the board.
    reviews = [(1, FAIR, 4.5), (2, FAIR, 3.5), (3, FAIR, 2.0),
               (1, HARSH, 3.0), (2, HARSH, 2.0), (3, HARSH, 0.5)]
    result = normalise_scores(reviews, SCALE)
    for application in (1, 2, 3):
        assert result[(application, FAIR)] == pytest.approx(result[(application, HARSH)])


def test_a_reviewer_who_squeezes_the_scale_is_stretched_back() -> None:
    wide = [(1, FAIR, 5.0), (2, FAIR, 3.0), (3, FAIR, 1.0)]
    narrow = [(4, HARSH, 3.5), (5, HARSH, 3.0), (6, HARSH, 2.5)]
    result = normalise_scores(wide + narrow, SCALE)
    assert result[(1, FAIR)] == pytest.approx(result[(4, HARSH)])
    assert result[(3, FAIR)] == pytest.approx(result[(6, HARSH)])


def test_a_single_review_keeps_its_raw_score() -> None:
    reviews = [(1, FAIR, 4.0), (2, FAIR, 2.0), (3, HARSH, 4.5)]
    assert normalise_scores(reviews, SCALE)[(3, HARSH)] == 4.5


def test_a_reviewer_without_spread_is_shifted_to_the_call_mean() -> None:
    reviews = [(1, FAIR, 4.0), (2, FAIR, 2.0), (3, HARSH, 1.0), (4, HARSH, 1.0)]
    result = normalise_scores(reviews, SCALE)
    assert result[(3, HARSH)] == pytest.approx(2.0)  # call mean (4 + 2 + 1 + 1) / 4
    assert result[(4, HARSH)] == pytest.approx(2.0)


def test_normalised_scores_are_clipped_to_the_scale() -> None:
    # One outlier among many identical scores has a large z; mapped back it would pass 5.
    reviews = [(i, FAIR, 3.0) for i in range(1, 10)] + [(10, FAIR, 5.0)]
    reviews += [(20, HARSH, 0.0), (21, HARSH, 5.0)]
    result = normalise_scores(reviews, SCALE)
    assert result[(10, FAIR)] == 5.0
    assert all(0.0 <= value <= 5.0 for value in result.values())


def test_normalising_nothing() -> None:
    assert normalise_scores([], SCALE) == {}
    assert normalised_array([], [], SCALE).size == 0


def test_the_array_form_keeps_the_input_order() -> None:
    reviews = [(1, FAIR, 4.0), (4, HARSH, 3.0), (2, FAIR, 3.0), (5, HARSH, 2.0), (7, 300, 1.5)]
    by_pair = normalise_scores(reviews, SCALE)
    array = normalised_array([r for _, r, _ in reviews], [s for _, _, s in reviews], SCALE)
    assert array.tolist() == pytest.approx([by_pair[(a, r)] for a, r, _ in reviews])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 10), min_size=2, max_size=8),
    st.integers(-6, 6),
    st.lists(st.integers(0, 10), max_size=8),
)
def test_a_constant_bias_is_removed_whatever_the_rest_of_the_call(halves: list[int], shift_halves: int,
                                                                  others: list[int]) -> None:
    """Reviewer 2 judges like reviewer 1, only shifted; their corrected scores are the same."""
    fair = [(i, 1, h / 2) for i, h in enumerate(halves)]
    biased = [(1000 + i, 2, h / 2 + shift_halves / 2) for i, h in enumerate(halves)]
    rest = [(2000 + i, 3, h / 2) for i, h in enumerate(others)]
    result = normalise_scores(fair + biased + rest, (-10.0, 15.0))  # wide: no clipping
    for i in range(len(halves)):
        assert result[(i, 1)] == pytest.approx(result[(1000 + i, 2)], abs=1e-9)


# --- rank ----------------------------------------------------------------------------------------------

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def app(application_id: int, mean: float | None, *, minutes: int = 0, median: float | None = None,
        normalised: float | None = None) -> AppScores:
    scores = Aggregate(count=0) if mean is None else Aggregate(count=3, mean=mean, median=median if median is not None else mean)
    norm = None if normalised is None else Aggregate(count=3, mean=normalised, median=normalised)
    return AppScores(application_id, T0 + dt.timedelta(minutes=minutes), scores, norm)


def ids(ranked: list[AppScores]) -> list[int]:
    return [entry.application_id for entry in ranked]


@pytest.mark.parametrize(
    ("applications", "by", "normalised", "expected"),
    [
        ([app(1, 3.0), app(2, 4.0), app(3, 3.5)], "mean", False, [2, 3, 1]),
        # Equal means: the earlier submission first, then the lower id.
        ([app(1, 4.0, minutes=5), app(2, 4.0, minutes=1), app(3, 4.0, minutes=1)], "mean", False, [2, 3, 1]),
        # No reviews yet: last, in submission order.
        ([app(1, None), app(2, 1.0), app(3, None, minutes=-1)], "mean", False, [2, 3, 1]),
        ([app(1, 3.0, median=4.0), app(2, 3.5, median=3.0)], "median", False, [1, 2]),
        ([app(1, 3.0, normalised=3.8), app(2, 3.5, normalised=3.1)], "mean", True, [1, 2]),
    ],
)
def test_rank(applications: list[AppScores], by: str, normalised: bool, expected: list[int]) -> None:
    assert ids(rank(applications, by, normalised)) == expected


def test_rank_is_independent_of_input_order() -> None:
    applications = [app(i, (i * 7 % 5) / 2, minutes=i % 3) for i in range(1, 30)]
    assert ids(rank(applications)) == ids(rank(list(reversed(applications))))


def test_rank_accepts_naive_and_missing_times() -> None:
    naive = AppScores(1, dt.datetime(2026, 3, 1, 11), Aggregate(count=1, mean=4.0))
    missing = AppScores(2, None, Aggregate(count=1, mean=4.0))
    assert ids(rank([missing, naive, app(3, 4.0)])) == [1, 3, 2]


def reference_order(applications: list[AppScores]) -> list[int]:
    """The ranking rule written as the plainest possible sort key."""
    def key(entry: AppScores) -> tuple:
        value = entry.scores.mean
        submitted = entry.submitted_at
        if submitted is not None and submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=dt.UTC)
        return (value is None, -(value or 0.0), submitted is None, submitted or T0, entry.application_id)
    return ids(sorted(applications, key=key))


@settings(max_examples=200, deadline=None)
@given(st.lists(
    st.tuples(st.one_of(st.none(), st.integers(0, 10).map(lambda h: h / 2)),
              st.one_of(st.none(), st.integers(-3, 3)), st.booleans()),
    max_size=25,
))
def test_rank_follows_the_rule_on_any_input(entries: list[tuple[float | None, int | None, bool]]) -> None:
    applications = []
    for application_id, (mean, microseconds, naive) in enumerate(entries, start=1):
        submitted = None if microseconds is None else T0 + dt.timedelta(microseconds=microseconds)
        if submitted is not None and naive:
            submitted = submitted.replace(tzinfo=None)
        scores = Aggregate(count=0) if mean is None else Aggregate(count=1, mean=mean)
        applications.append(AppScores(application_id, submitted, scores))
    assert ids(rank(applications)) == reference_order(applications)


def test_rank_refuses_an_unknown_statistic() -> None:
    with pytest.raises(ValueError, match="cannot rank by 'std'"):
        rank([app(1, 3.0)], "std")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.sampled_from([x / 2 for x in range(11)])), min_size=1, max_size=40))
def test_one_review_normalised_from_statistics_is_the_array_rule(reviews: list[tuple[int, float]]) -> None:
    """``normalised_one`` (the committee view: summary statistics only) gives what
    ``normalised_array`` gives over every review of the call."""
    import numpy as np

    reviewers = [reviewer for reviewer, _ in reviews]
    values = np.array([value for _, value in reviews])
    expected = normalised_array(reviewers, values, (0.0, 5.0))
    call = (float(values.mean()), float(values.std()))
    for index, (reviewer, value) in enumerate(reviews):
        own = values[[i for i, (r, _) in enumerate(reviews) if r == reviewer]]
        statistics_of_reviewer = (own.size, float(own.mean()), float(own.std()))
        assert normalised_one(value, statistics_of_reviewer, call, (0.0, 5.0)) == pytest.approx(expected[index], abs=1e-9)
