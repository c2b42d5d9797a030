"""A call's insights figures are stored per call and programme scope and read back while the
call's inputs are unchanged; every kind of change to those inputs (and an open assignment
falling overdue) makes the next reader compute them again, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select, update

from incubator.extensions import db
from incubator.models import Assignment, CallInsightSnapshot, Criterion, Residency, Review, Score
from incubator.services import insights
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer
from tests.insights_data import NOW, KnownCall, build_known_call

LATER = NOW + dt.timedelta(days=1)


@pytest.fixture
def known(app: Flask) -> KnownCall:
    return build_known_call()


def figures(data: insights.CallInsights) -> tuple[object, ...]:
    return data.funnel, data.per_day, data.scores, data.reviewers, data.decisions


def direct(known: KnownCall, programme_ids: list[int] | None, now: dt.datetime) -> tuple[object, ...]:
    """The same figures straight from the data, by the service's own queries."""
    call_id = known.call.id
    return (insights.funnel(call_id, programme_ids), insights.submissions_per_day(known.call, programme_ids),
            insights.score_distribution(call_id, programme_ids), insights.reviewer_figures(call_id, programme_ids, now),
            insights.decision_times(call_id, programme_ids))


def stored_then(known: KnownCall, change: Callable[[], None]) -> insights.CallInsights:
    """Store the figures at NOW, make the change, commit, and read them a day later."""
    insights.call_insights(known.call, None, NOW)
    db.session.commit()
    change()
    db.session.commit()
    return insights.call_insights(known.call, None, LATER)


def test_stored_figures_are_read_back_equal_to_the_data(known: KnownCall) -> None:
    first = insights.call_insights(known.call, None, NOW)
    db.session.commit()
    assert figures(first) == direct(known, None, NOW)
    again = insights.call_insights(known.call, None, LATER)
    assert again.computed_at == NOW  # read back, not computed again
    assert figures(again) == figures(first)
    (row,) = db.session.scalars(select(CallInsightSnapshot))
    assert (row.call_id, row.scope) == (known.call.id, "*")
    # The next moment an open assignment becomes overdue (the second reviewer's, due in 2099).
    assert row.valid_until == dt.datetime(2099, 7, 1, tzinfo=dt.UTC)


def test_each_programme_scope_has_its_own_figures(known: KnownCall) -> None:
    everything = insights.call_insights(known.call, None, NOW)
    exchange = insights.call_insights(known.call, [known.exchange_programme_id], NOW)
    db.session.commit()
    assert [s.count for s in everything.funnel] == [6, 5, 4, 2, 1, 1, 1]
    assert [s.count for s in exchange.funnel] == [1, 1, 1, 0, 0, 0, 0]
    assert figures(insights.call_insights(known.call, [known.exchange_programme_id], LATER)) == figures(exchange)
    assert figures(insights.call_insights(known.call, None, LATER)) == figures(everything)
    assert sorted(db.session.scalars(select(CallInsightSnapshot.scope))) == ["*", str(known.exchange_programme_id)]


def _withdraw(known: KnownCall) -> None:
    known.applications["submitted"].state = "withdrawn"
    known.applications["submitted"].withdrawn_at = NOW


def _rescore(known: KnownCall) -> None:
    review = db.session.scalars(select(Review).where(Review.reviewer_id == known.reviewers[0].id)).first()
    for score in review.scores:
        score.value = Decimal(5)


def _assign(known: KnownCall) -> None:
    make_assignment(known.applications["submitted"], make_reviewer(), due_at=NOW)


def _move_out(known: KnownCall) -> None:
    db.session.delete(db.session.scalars(select(Residency)).one())


def _rename(known: KnownCall) -> None:
    known.reviewers[0].name = "Ada Lovelace"


def _rank_exchange(known: KnownCall) -> None:
    known.applications["submitted"].preferences[0].programme_id = known.exchange_programme_id


def _bulk_update_assignments(known: KnownCall) -> None:
    db.session.execute(update(Assignment).values(due_at=NOW - dt.timedelta(days=1)))


CHANGES = {"withdrawal": _withdraw, "score": _rescore, "assignment": _assign, "residency": _move_out,
           "reviewer name": _rename, "preference": _rank_exchange, "bulk update": _bulk_update_assignments}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_change_to_the_calls_inputs_computes_the_figures_again(known: KnownCall, change: Callable[..., None]) -> None:
    data = stored_then(known, lambda: change(known))
    assert data.computed_at == LATER
    assert figures(data) == direct(known, None, LATER)


def test_an_unrelated_edit_or_a_draft_review_leaves_the_figures_current(known: KnownCall) -> None:
    def edit() -> None:
        known.applications["submitted"].company_name = "Renamed AS"
        draft = Review(application_id=known.applications["submitted"].id, reviewer_id=known.reviewers[1].id,
                       state="draft")
        db.session.add(draft)

    assert stored_then(known, edit).computed_at == NOW


def test_a_new_criterion_computes_the_figures_again(known: KnownCall) -> None:
    def add() -> None:
        db.session.add(Criterion(call_id=known.call.id, position=9, name="Fit", weight=Decimal(1)))

    data = stored_then(known, add)
    assert data.computed_at == LATER and [c.name for c in data.scores][-1] == "Fit"


def test_an_open_assignment_falling_overdue_computes_the_figures_again(known: KnownCall) -> None:
    insights.call_insights(known.call, None, NOW)
    db.session.commit()
    after_due = dt.datetime(2099, 7, 2, tzinfo=dt.UTC)
    data = insights.call_insights(known.call, None, after_due)
    assert data.computed_at == after_due
    bo = next(r for r in data.reviewers if r.name == "Bo Reviewer")
    assert (bo.due, bo.overdue) == (0, 1)


def test_scores_of_a_submitted_review_are_watched_through_the_review(known: KnownCall) -> None:
    # A score edited on its own (no change to its review) still reaches the call.
    def edit() -> None:
        score = db.session.scalars(select(Score).join(Review).where(Review.state == "submitted")).first()
        score.value = Decimal(0)

    data = stored_then(known, edit)
    assert data.computed_at == LATER
    assert any(value == Decimal(0) for criterion in data.scores for value, _ in criterion.counts)


def _year_counts(programme_ids: list[int] | None) -> dict[int, list[int]]:
    return {call.call_id: [s.count for s in call.stages] for call in insights.funnels_of_year(2026, programme_ids)}


def test_the_year_reads_each_calls_stored_funnel_while_current(known: KnownCall) -> None:
    other = make_call(opens_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC), closes_at=dt.datetime(2026, 10, 1, tzinfo=dt.UTC))
    make_application(make_applicant(), other)  # a draft: started 1
    make_call(opens_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC))  # no applications: left out
    stored = insights.call_insights(known.call, None, NOW)
    db.session.commit()
    assert _year_counts(None) == {known.call.id: [s.count for s in stored.funnel], other.id: [1, 0, 0, 0, 0, 0, 0]}
    # A marker in the stored figures shows which funnel the year reads: the known call's stored
    # one (current), the other call's from the data (nothing stored for it).
    db.session.execute(update(CallInsightSnapshot).values(figures={**stored_figures(), "funnel": [9] * 7}))
    db.session.commit()
    assert _year_counts(None) == {known.call.id: [9] * 7, other.id: [1, 0, 0, 0, 0, 0, 0]}
    # The funnel does not depend on the time: stored figures past their valid_until still give it.
    db.session.execute(update(CallInsightSnapshot).values(valid_until=NOW))
    db.session.commit()
    assert _year_counts(None)[known.call.id] == [9] * 7
    # A limited scope never reads another scope's figures.
    assert _year_counts([known.exchange_programme_id]) == {known.call.id: [1, 1, 1, 0, 0, 0, 0]}


def stored_figures() -> dict[str, object]:
    return db.session.scalars(select(CallInsightSnapshot.figures)).one()


def test_the_year_counts_a_calls_funnel_from_the_data_once_its_inputs_changed(known: KnownCall) -> None:
    insights.call_insights(known.call, None, NOW)
    db.session.execute(update(CallInsightSnapshot).values(figures={**stored_figures(), "funnel": [9] * 7}))
    db.session.commit()
    _withdraw(known)
    db.session.commit()
    assert _year_counts(None) == {known.call.id: [s.count for s in insights.funnel(known.call.id, None)]}
    assert _year_counts(None)[known.call.id] == [6, 5, 3, 2, 1, 1, 1]
