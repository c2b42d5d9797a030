"""services.ranking on a real database (SQLite and PostgreSQL): the numbers of a small call
worked out by hand, the filters and sorting, the CSV, and a statement count that does not
grow with the number of applications."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from decimal import Decimal
from types import SimpleNamespace

import numpy as np
import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from incubator.database import utcnow
from incubator.domain.scoring import CriterionRule, aggregate, normalise_scores
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, ProgrammePreference, Review, Score, User
from incubator.services.ranking import (
    RankingError,
    RankingRow,
    criterion_rules,
    ranking_csv,
    ranking_for_call,
)
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric
from tests.support.ranking_reference import ReviewTotals
from tests.support.statements import statements_sent

NOW = utcnow()
PAST, FUTURE = NOW - dt.timedelta(days=2), NOW + dt.timedelta(days=5)


def rubric(call: Call) -> list:
    """Team counts double and has a threshold of 3; all on 0–5 in half points."""
    return make_rubric(call, [
        {"name": "Team", "weight": Decimal(2), "threshold": Decimal(3)},
        {"name": "Science", "weight": Decimal(1)},
        {"name": "Market", "weight": Decimal(1)},
    ])


def scores(criteria: list, team: float, science: float, market: float) -> dict[int, float]:
    return dict(zip((c.id for c in criteria), (team, science, market), strict=True))


@pytest.fixture
def seeded(app: Flask) -> SimpleNamespace:
    """Five listed applications (one withdrawn) and one draft, three reviewers.

    Weighted score = (2·team + science + market) / 4:

    ========  ==================  ==================  ==================
    company   reviewer 1          reviewer 2          reviewer 3
    ========  ==================  ==================  ==================
    Alpha     4,4,4 → 4.00        5,3,3 → 4.00        3,5,4 → 3.75
    Beta      2,5,5 → 3.50        2.5,4,4 → 3.25      assigned, overdue
    Gamma     1,1,1 → 1.00        5,5,5 → 5.00        —
    Delta     assigned, not due   draft review        —
    Gone      —                   —                   5,5,5 → 5.00 (withdrawn)
    ========  ==================  ==================  ==================
    """
    call = make_call(disagreement_threshold=Decimal("1.00"))
    criteria = rubric(call)
    r1, r2, r3 = make_reviewer(), make_reviewer(), make_reviewer()
    apps = {}
    for name, state in [("Alpha", "submitted"), ("Beta", "under_review"), ("Gamma", "submitted"),
                        ("Delta", "submitted"), ("Gone", "withdrawn")]:
        apps[name] = make_application(make_applicant(), call, state=state, complete=True, company_name=name)
    make_application(make_applicant(), call, state="draft", company_name="Draft")

    def review(app_name: str, reviewer: User, values: tuple[float, float, float], **kwargs) -> None:
        make_assignment(apps[app_name], reviewer, due_at=PAST)
        make_review(apps[app_name], reviewer, scores(criteria, *values), **kwargs)

    review("Alpha", r1, (4, 4, 4))
    review("Alpha", r2, (5, 3, 3))
    review("Alpha", r3, (3, 5, 4))
    review("Beta", r1, (2, 5, 5))
    review("Beta", r2, (2.5, 4, 4))
    make_assignment(apps["Beta"], r3, due_at=PAST)
    review("Gamma", r1, (1, 1, 1))
    review("Gamma", r2, (5, 5, 5))
    make_assignment(apps["Delta"], r1, due_at=FUTURE)
    make_assignment(apps["Delta"], r2, due_at=PAST)
    make_review(apps["Delta"], r2, scores(criteria, 5, 5, 5), state="draft")
    review("Gone", r3, (5, 5, 5))
    return SimpleNamespace(call=call, criteria=criteria, apps=apps, reviewers=(r1, r2, r3))


def by_company(rows: list[RankingRow]) -> dict[str, RankingRow]:
    return {row.company_name: row for row in rows}


def test_numbers_match_the_hand_computation(seeded: SimpleNamespace) -> None:
    rows = ranking_for_call(seeded.call, now=NOW)
    assert [row.company_name for row in rows] == ["Alpha", "Beta", "Gamma", "Delta"]
    board = by_company(rows)

    alpha = board["Alpha"]
    assert (alpha.rank, alpha.reviews_submitted, alpha.reviews_assigned, alpha.reviews_overdue) == (1, 3, 3, 0)
    assert alpha.scores.mean == pytest.approx(11.75 / 3)
    assert alpha.scores.median == pytest.approx(4.0)
    # deviations 1/12, 1/12, −1/6: (1/144 + 1/144 + 4/144) / 3 = 1/72
    assert alpha.scores.std == pytest.approx(math.sqrt(1 / 72))
    assert alpha.scores.range == pytest.approx(0.25)
    assert alpha.criterion_means == pytest.approx({seeded.criteria[0].id: 4.0})  # only threshold criteria
    assert (alpha.disagreement, alpha.threshold_failures) == (False, [])
    assert alpha.programmes == ["OCC Incubator"]

    beta = board["Beta"]
    assert (beta.rank, beta.reviews_submitted, beta.reviews_assigned, beta.reviews_overdue) == (2, 2, 3, 1)
    assert (beta.scores.mean, beta.scores.median, beta.scores.std) == pytest.approx((3.375, 3.375, 0.125))
    assert beta.threshold_failures == [seeded.criteria[0].id]  # Team mean 2.25 < 3
    assert beta.state == "under_review"

    gamma = board["Gamma"]
    assert gamma.rank == 3
    assert (gamma.scores.mean, gamma.scores.std, gamma.scores.range) == pytest.approx((3.0, 2.0, 4.0))
    assert gamma.disagreement is True  # std 2.0 > 1.00
    assert gamma.threshold_failures == []  # Team mean exactly 3 meets the threshold

    delta = board["Delta"]
    assert delta.rank is None and delta.scores.count == 0 and delta.scores.mean is None
    assert (delta.reviews_submitted, delta.reviews_assigned, delta.reviews_overdue) == (0, 2, 1)  # draft ≠ submitted


def test_four_or_more_reviews_take_their_median_from_the_reviews(seeded: SimpleNamespace) -> None:
    """Up to three scores are rebuilt from count, sum, min and max; a fourth needs the rows."""
    fourth = make_reviewer()
    make_assignment(seeded.apps["Alpha"], fourth)
    make_review(seeded.apps["Alpha"], fourth, scores(seeded.criteria, 0, 0, 0))
    alpha = by_company(ranking_for_call(seeded.call, now=NOW))["Alpha"]
    assert alpha.reviews_submitted == 4
    expected = aggregate([4.0, 4.0, 3.75, 0.0], Decimal("1.00"))
    assert (alpha.scores.mean, alpha.scores.median, alpha.scores.std) == pytest.approx(
        (expected.mean, 3.875, expected.std))
    assert alpha.scores.disagreement is True  # std 1.68


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 50000), min_size=1, max_size=3), min_size=1, max_size=20))
def test_up_to_three_scores_are_rebuilt_from_their_totals(groups: list[list[int]]) -> None:
    """No database here: the arithmetic behind the board's one-aggregate path."""
    scores_by_app = {i + 1: [v / 10000 for v in group] for i, group in enumerate(groups)}  # 4 decimals, 0–5
    totals = ReviewTotals(
        np.array(list(scores_by_app)), np.array([len(v) for v in scores_by_app.values()]),
        np.array([sum(v) for v in scores_by_app.values()]), np.array([min(v) for v in scores_by_app.values()]),
        np.array([max(v) for v in scores_by_app.values()]),
    )
    ids, values = totals.scores()
    for application_id, expected in scores_by_app.items():
        rebuilt = sorted(values[ids == application_id].tolist())
        assert rebuilt == pytest.approx(sorted(expected), abs=1e-12)


def test_withdrawn_applications_are_listed_on_request_but_never_ranked(seeded: SimpleNamespace) -> None:
    rows = ranking_for_call(seeded.call, state="withdrawn", now=NOW)
    assert [(row.company_name, row.rank, row.scores.mean) for row in rows] == [("Gone", None, 5.0)]


def test_normalised_scores_come_from_every_submitted_review_of_the_call(seeded: SimpleNamespace) -> None:
    rows = by_company(ranking_for_call(seeded.call, normalised=True, now=NOW))
    a, r = seeded.apps, [reviewer.id for reviewer in seeded.reviewers]
    reviews = [(a["Alpha"].id, r[0], 4.0), (a["Alpha"].id, r[1], 4.0), (a["Alpha"].id, r[2], 3.75),
               (a["Beta"].id, r[0], 3.5), (a["Beta"].id, r[1], 3.25),
               (a["Gamma"].id, r[0], 1.0), (a["Gamma"].id, r[1], 5.0), (a["Gone"].id, r[2], 5.0)]
    expected = normalise_scores(reviews, (0.0, 5.0))
    for name in ("Alpha", "Beta", "Gamma"):
        mine = [value for (application_id, _), value in expected.items() if application_id == a[name].id]
        assert rows[name].normalised.mean == pytest.approx(aggregate(mine).mean)
    assert rows["Delta"].normalised.count == 0
    ranked = sorted((row for row in rows.values() if row.rank), key=lambda row: row.rank)
    means = [row.normalised.mean for row in ranked]
    assert means == sorted(means, reverse=True)  # the rank follows the normalised mean


def test_filters(seeded: SimpleNamespace) -> None:
    call = seeded.call
    exchange_id = call.programmes[1].programme_id
    beta = seeded.apps["Beta"]
    db.session.add(ProgrammePreference(application_id=beta.id, programme_id=exchange_id, rank=2))
    db.session.commit()
    assert [row.company_name for row in ranking_for_call(call, programme_id=exchange_id)] == ["Beta"]
    assert by_company(ranking_for_call(call))["Beta"].programmes == ["OCC Incubator", "BioVentureHub exchange"]
    assert [row.company_name for row in ranking_for_call(call, state="under_review")] == ["Beta"]
    assert [row.company_name for row in ranking_for_call(call, flag="disagreement")] == ["Gamma"]
    assert [row.company_name for row in ranking_for_call(call, flag="threshold")] == ["Beta"]
    assert [row.company_name for row in ranking_for_call(call, flag="overdue", now=NOW)] == ["Beta", "Delta"]
    # Filters hide rows; the rank is still the position in the whole call.
    assert [row.rank for row in ranking_for_call(call, flag="disagreement")] == [3]


@pytest.mark.parametrize(
    ("sort", "descending", "expected"),
    [
        ("rank", False, ["Alpha", "Beta", "Gamma", "Delta"]),
        ("rank", True, ["Gamma", "Beta", "Alpha", "Delta"]),  # unranked stays last
        ("company", False, ["Alpha", "Beta", "Delta", "Gamma"]),
        ("std", True, ["Gamma", "Beta", "Alpha", "Delta"]),
        ("mean", False, ["Gamma", "Beta", "Alpha", "Delta"]),
        ("range", True, ["Gamma", "Alpha", "Beta", "Delta"]),  # Alpha and Beta tie at 0.25: rank order
        ("reviews", True, ["Alpha", "Beta", "Gamma", "Delta"]),
        ("flags", True, ["Beta", "Gamma", "Alpha", "Delta"]),
        ("normalised", True, None),
    ],
)
def test_sorting(seeded: SimpleNamespace, sort: str, descending: bool, expected: list[str] | None) -> None:
    rows = ranking_for_call(seeded.call, sort=sort, descending=descending, now=NOW)
    if expected is None:  # sorting by the normalised mean computes it even without the toggle
        values = [row.normalised.mean for row in rows if row.normalised.count]
        assert values == sorted(values, reverse=True)
    else:
        assert [row.company_name for row in rows] == expected


@pytest.mark.parametrize("options", [{"sort": "bogus"}, {"flag": "late"}, {"state": "draft"}])
def test_unknown_options_are_refused(seeded: SimpleNamespace, options: dict) -> None:
    with pytest.raises(RankingError):
        ranking_for_call(seeded.call, **options)


def test_criterion_rules_convert_the_rubric(seeded: SimpleNamespace) -> None:
    rules = criterion_rules(seeded.call)
    team = seeded.criteria[0]
    assert rules[0] == CriterionRule(id=team.id, weight=Decimal("2.000"), scale_min=Decimal(0), scale_max=Decimal(5),
                                     step=Decimal("0.5"), threshold=Decimal(3), name="Team")
    assert [rule.name for rule in rules] == ["Team", "Science", "Market"]


def test_csv_has_every_column_and_each_criterion_mean(seeded: SimpleNamespace) -> None:
    call = seeded.call
    rows = ranking_for_call(call, all_criterion_means=True, now=NOW)
    table = list(csv.DictReader(io.StringIO(ranking_csv(rows, call.criteria))))
    assert list(table[0])[-3:] == ["Mean: Team", "Mean: Science", "Mean: Market"]
    beta = next(line for line in table if line["Company"] == "Beta")
    assert beta["Rank"] == "2" and beta["Programmes"] == "OCC Incubator" and beta["State"] == "under_review"
    assert (beta["Reviews submitted"], beta["Reviews assigned"], beta["Reviews overdue"]) == ("2", "3", "1")
    assert (beta["Mean"], beta["Median"], beta["Std"], beta["Range"]) == ("3.3750", "3.3750", "0.1250", "0.2500")
    assert (beta["Mean: Team"], beta["Mean: Science"], beta["Mean: Market"]) == ("2.2500", "4.5000", "4.5000")
    assert beta["Below threshold"] == "Team" and beta["Disagreement"] == "no"
    delta = next(line for line in table if line["Company"] == "Delta")
    assert delta["Rank"] == "" and delta["Mean"] == "" and delta["Mean: Team"] == ""


# --- statements per board ------------------------------------------------------------------------


def seed_call(n_applications: int) -> int:
    """A call with n applications, each with three assignments and three submitted reviews."""
    call = make_call()
    criteria = rubric(call)
    reviewers = [make_reviewer() for _ in range(4)]
    programme_id = call.programmes[0].programme_id
    now = utcnow()
    for i in range(n_applications):
        applicant = User(email=f"bulk{call.id}-{i}@example.org", name=f"Bulk {i}", role="applicant")
        application = Application(call=call, applicant=applicant, state="submitted", company_name=f"Company {i}",
                                  country="NO", org_number=f"9{call.id:03d}{i:05d}", created_at=now,
                                  updated_at=now, submitted_at=now - dt.timedelta(minutes=i))
        application.preferences = [ProgrammePreference(programme_id=programme_id, rank=1)]
        db.session.add(application)
        for k in range(3):
            reviewer = reviewers[(i + k) % len(reviewers)]
            db.session.add(Assignment(application=application, reviewer_id=reviewer.id, source="auto",
                                      assigned_at=now, due_at=PAST if k == 2 else FUTURE))
            values = [Decimal((i * 7 + k * 3 + j) % 11) / 2 for j in range(len(criteria))]
            total = (2 * values[0] + values[1] + values[2]) / 4
            db.session.add(Review(application=application, reviewer_id=reviewer.id, state="submitted",
                                  weighted_score=total, created_at=now, updated_at=now, submitted_at=now,
                                  scores=[Score(criterion_id=c.id, value=v) for c, v in zip(criteria, values, strict=True)]))
    db.session.commit()
    return call.id


def statements_for_board(call_id: int, **options) -> tuple[int, list[RankingRow]]:
    db.session.expire_all()  # start cold: nothing of the call already in the session
    with statements_sent() as statements:
        call = db.session.get(Call, call_id)
        rows = ranking_for_call(call, **options)
    return len(statements), rows


@pytest.mark.parametrize("options", [{}, {"normalised": True, "all_criterion_means": True, "flag": "threshold"}])
def test_statement_count_does_not_grow_with_the_applications(app: Flask, options: dict) -> None:
    small, large = seed_call(10), seed_call(100)
    small_count, small_rows = statements_for_board(small, **options)
    large_count, large_rows = statements_for_board(large, **options)
    assert small_count == large_count
    # The call, its criteria and five set-based queries; normalised, the first board after a
    # change also recomputes the call's stored snapshot, in a fixed number of statements too.
    assert large_count <= (15 if options else 7)
    if not options:
        assert (len(small_rows), len(large_rows)) == (10, 100)
        assert all(row.reviews_submitted == 3 and row.reviews_assigned == 3 for row in large_rows)
