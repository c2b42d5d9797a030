"""Every figure of the insights service on the known call of tests/insights_data.py, on SQLite
and PostgreSQL, checked against numbers worked out by hand and against direct queries; and the
programme filter that partner scoping relies on."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from incubator.extensions import db
from incubator.models import Application, Offer
from incubator.services import insights
from tests.insights_data import NOW, KnownCall, build_known_call


@pytest.fixture
def known(app: Flask) -> KnownCall:
    return build_known_call()


def counts(stages: list[insights.FunnelStage]) -> list[int]:
    return [stage.count for stage in stages]


def test_funnel_counts_each_stage(known: KnownCall) -> None:
    stages = insights.funnel(known.call.id, None)
    assert [s.stage for s in stages] == list(insights.FUNNEL_STAGES)
    assert counts(stages) == [6, 5, 4, 2, 1, 1, 1]
    assert stages[1].previous == 6 and stages[2].kept_share == pytest.approx(4 / 5)
    direct = db.session.scalar(select(func.count()).select_from(Application).where(
        Application.call_id == known.call.id, Application.submitted_at.is_not(None)))
    assert stages[1].count == direct


def test_funnel_keeps_to_the_programmes_given(known: KnownCall) -> None:
    assert counts(insights.funnel(known.call.id, [known.exchange_programme_id])) == [1, 1, 1, 0, 0, 0, 0]
    # The draft ranked nothing yet, so it belongs to no programme's figures.
    assert counts(insights.funnel(known.call.id, {known.occ_programme_id})) == [4, 4, 3, 2, 1, 1, 1]
    assert counts(insights.funnel(known.call.id, [])) == [0] * 7


def test_submissions_per_day_cover_the_call_with_zero_days(known: KnownCall) -> None:
    days = insights.submissions_per_day(known.call, None)
    assert days[0] == (dt.date(2026, 3, 1), 0) and days[-1][0] == dt.date(2026, 3, 31) and len(days) == 31
    assert {d: n for d, n in days if n} == {dt.date(2026, 3, 10): 2, dt.date(2026, 3, 12): 2,
                                            dt.date(2026, 3, 30): 1}
    scoped = insights.submissions_per_day(known.call, [known.exchange_programme_id])
    assert {d: n for d, n in scoped if n} == {dt.date(2026, 3, 30): 1}


def test_score_distribution_per_criterion(known: KnownCall) -> None:
    science, team = insights.score_distribution(known.call.id, None)
    assert science.name == "Science" and team.name == "Team"
    assert science.counts == [(Decimal(1), 1), (Decimal(2), 1), (Decimal(3), 1), (Decimal(4), 1)]
    assert team.counts == science.counts
    assert all(not c.counts for c in insights.score_distribution(known.call.id, [known.exchange_programme_id]))


def test_reviewers_mean_spread_against_the_others_and_progress(known: KnownCall) -> None:
    ada, bo = insights.reviewer_figures(known.call.id, None, NOW)
    assert (ada.name, ada.assigned, ada.done, ada.due, ada.overdue, ada.reviews) == ("Ada Reviewer", 3, 2, 0, 1, 2)
    assert (ada.mean, ada.spread, ada.others_mean, ada.offset) == pytest.approx((3.0, 1.0, 2.0, 1.0))
    assert (bo.name, bo.assigned, bo.done, bo.due, bo.overdue) == ("Bo Reviewer", 3, 2, 1, 0)
    assert (bo.mean, bo.spread, bo.others_mean, bo.offset) == pytest.approx((2.0, 1.0, 3.0, -1.0))
    (only,) = insights.reviewer_figures(known.call.id, [known.exchange_programme_id], NOW)
    assert (only.name, only.assigned, only.overdue, only.mean) == ("Ada Reviewer", 1, 1, None)


def test_time_from_submission_to_decision_per_week(known: KnownCall) -> None:
    times = insights.decision_times(known.call.id, None)
    assert times.buckets == [(7, 1), (28, 1)]
    assert times.decided == 2 and times.mean_days == pytest.approx(20.0)
    assert insights.decision_times(known.call.id, [known.exchange_programme_id]).decided == 0


def test_occupancy_per_site_and_space_type_per_month(known: KnownCall) -> None:
    months = insights.months_from(dt.date(2026, 1, 1), 12)
    (line,) = insights.occupancy_by_month(months, None)
    assert line.space_type == "lab_bench" and line.capacity == [4] * 12
    assert line.residents == [0] * 8 + [1] * 4 and line.offered == [0] * 12
    assert line.utilisation[8] == pytest.approx(0.25) and line.free == [4] * 8 + [3] * 4
    assert insights.occupancy_by_month(months, [known.exchange_programme_id]) == []
    with pytest.raises(ValueError):
        insights.months_from(dt.date(2026, 1, 1), insights.MAX_MONTHS + 1)


def test_open_offers_take_places_ahead(known: KnownCall) -> None:
    known.applications["rejected"].state = "waitlisted"
    db.session.add(Offer(application_id=known.applications["rejected"].id, slot_id=known.slot.id,
                                  state="offered", starts_on=dt.date(2026, 11, 1), ends_on=dt.date(2027, 1, 1),
                                  response_deadline=dt.datetime(2026, 10, 1, tzinfo=dt.UTC), offered_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC)))
    db.session.commit()
    (line,) = insights.occupancy_by_month(insights.months_from(dt.date(2026, 10, 1), 3), None)
    assert line.offered == [0, 1, 1] and line.free == [3, 2, 2]


def test_applications_by_country_and_focus_area_in_a_year(known: KnownCall) -> None:
    assert insights.applications_by("country", 2026, None) == [("NO", 4), ("SE", 1)]
    assert insights.applications_by("focus_area", 2026, None) == [("radiopharmaceuticals", 4), ("diagnostics", 1)]
    assert insights.applications_by("country", 2025, None) == []
    assert insights.applications_by("country", 2026, [known.exchange_programme_id]) == [("NO", 1)]


def test_funnels_of_the_year_group_by_call(known: KnownCall) -> None:
    (call,) = insights.funnels_of_year(2026, None)
    assert call.call_id == known.call.id and counts(call.stages) == [6, 5, 4, 2, 1, 1, 1]
    assert insights.funnels_of_year(2025, None) == []
    (scoped,) = insights.funnels_of_year(2026, [known.exchange_programme_id])
    assert counts(scoped.stages) == [1, 1, 1, 0, 0, 0, 0]
    assert insights.years_with_data() == [2026]
