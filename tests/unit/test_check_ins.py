"""The check-in reminder plan, without a database: which reminders are due at a moment."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from incubator.domain.check_ins import ResidencyStay, due_on_of, plan_check_in_reminders

OSLO = ZoneInfo("Europe/Oslo")
STAY = ResidencyStay(7, dt.date(2027, 1, 1), dt.date(2028, 1, 1))  # check-ins 1 April, 1 July, 1 October


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(dt.UTC)


def occasions(now: dt.datetime, done: set[tuple[int, dt.date]] | None = None, sent: tuple[str, ...] = ()) -> list[str]:
    return [r.key for r in plan_check_in_reminders(now, [STAY], done or set(), [3, 4], OSLO, sent)]


def test_a_week_before_at_nine_then_on_the_day_for_every_manager() -> None:
    assert occasions(at(2027, 3, 25, 8, 59)) == []
    assert occasions(at(2027, 3, 25, 9, 0)) == ["check_in:3:7:before-7d@2027-04-01", "check_in:4:7:before-7d@2027-04-01"]
    assert occasions(at(2027, 4, 1, 9, 0)) == ["check_in:3:7:due@2027-04-01", "check_in:4:7:due@2027-04-01"]


def test_only_the_latest_occasion_after_an_outage_and_nothing_after_thirty_days() -> None:
    assert occasions(at(2027, 4, 3, 12)) == ["check_in:3:7:due@2027-04-01", "check_in:4:7:due@2027-04-01"]
    assert occasions(at(2027, 5, 1, 12)) == ["check_in:3:7:due@2027-04-01", "check_in:4:7:due@2027-04-01"]
    assert occasions(at(2027, 5, 2, 12)) == []


def test_recorded_or_already_sent_check_ins_are_not_planned() -> None:
    assert occasions(at(2027, 4, 1, 12), done={(7, dt.date(2027, 4, 1))}) == []
    assert occasions(at(2027, 4, 1, 12), sent=("check_in:3:7:due@2027-04-01",)) == ["check_in:4:7:due@2027-04-01"]
    assert due_on_of("before-7d@2027-04-01") == dt.date(2027, 4, 1)


def test_a_limited_manager_is_reminded_only_of_stays_in_their_programmes() -> None:
    in_gothenburg = ResidencyStay(8, dt.date(2027, 1, 1), dt.date(2028, 1, 1), programme_id=2)
    in_oslo = ResidencyStay(9, dt.date(2027, 1, 1), dt.date(2028, 1, 1), programme_id=1)
    planned = plan_check_in_reminders(at(2027, 4, 1, 12), [in_gothenburg, in_oslo], set(), [3, 4, 5], OSLO,
                                      scopes={4: frozenset({2}), 5: frozenset({1, 2})})
    assert sorted((r.recipient_id, r.subject_id) for r in planned) == [(3, 8), (3, 9), (4, 8), (5, 8), (5, 9)]
