"""The reminder policy as pure functions: offsets on the call's wall clock, deterministic keys."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from incubator.domain.reminders import (
    DEFAULT_POLICY,
    CallSchedule,
    OpenDraft,
    PendingReview,
    PolicyError,
    ReminderPolicy,
    applicant_occasions,
    current_occasion,
    managers_who_see,
    parse_days,
    plan_sweep,
    reminder_key,
    reviewer_occasions,
    shift_days,
    weekly_digest_occasion,
)

OSLO = ZoneInfo("Europe/Oslo")
UTC = dt.UTC


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(UTC)


def test_offsets_are_counted_on_the_local_wall_clock_across_the_spring_change() -> None:
    deadline = oslo(2027, 3, 29, 12, 0)  # CEST (UTC+2); clocks went forward on 28 March
    at = {o.name.split("@")[0]: o.at for o in reviewer_occasions(DEFAULT_POLICY, deadline, OSLO)}
    assert at["before-7d"] == dt.datetime(2027, 3, 22, 11, 0, tzinfo=UTC)  # 12:00 CET
    assert at["before-2d"] == dt.datetime(2027, 3, 27, 11, 0, tzinfo=UTC)  # 12:00 CET
    assert at["before-1d"] == dt.datetime(2027, 3, 28, 10, 0, tzinfo=UTC)  # 12:00 CEST, only 23 h later
    assert at["overdue-1"] == dt.datetime(2027, 3, 31, 10, 0, tzinfo=UTC)
    assert [o.at.astimezone(OSLO).hour for o in reviewer_occasions(DEFAULT_POLICY, deadline, OSLO)] == [12] * 6


def test_autumn_change_and_missing_local_times_are_deterministic() -> None:
    # 02:30 on 31 October 2027 happens twice in Oslo; the first (summer time) one is taken.
    assert shift_days(oslo(2027, 11, 1, 2, 30), -1, OSLO) == dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    # 02:30 on 28 March 2027 does not exist; it maps to the same UTC instant every time.
    first = shift_days(oslo(2027, 3, 29, 2, 30), -1, OSLO)
    assert first == shift_days(oslo(2027, 3, 29, 2, 30), -1, OSLO)


def test_only_the_latest_due_occasion_counts_and_not_before_assignment() -> None:
    deadline = oslo(2027, 5, 10, 12, 0)
    occasions = reviewer_occasions(DEFAULT_POLICY, deadline, OSLO)
    assert current_occasion(occasions, deadline - dt.timedelta(days=8)) is None
    assert current_occasion(occasions, deadline - dt.timedelta(days=1, hours=1)).name == "before-2d@2027-05-10"
    # assigned after the 2-day occasion: wait for the 1-day one
    assert current_occasion(occasions, deadline - dt.timedelta(days=1, hours=1),
                            not_before=deadline - dt.timedelta(days=1, hours=12)) is None
    assert current_occasion(occasions, deadline + dt.timedelta(days=30)).name == "overdue-3@2027-05-10"


def test_keys_are_deterministic_and_a_moved_deadline_starts_afresh() -> None:
    a = reviewer_occasions(DEFAULT_POLICY, oslo(2027, 5, 10, 12), OSLO)
    b = reviewer_occasions(DEFAULT_POLICY, oslo(2027, 5, 10, 12), OSLO)
    c = reviewer_occasions(DEFAULT_POLICY, oslo(2027, 5, 12, 12), OSLO)
    assert a == b and {o.name for o in a}.isdisjoint({o.name for o in c})
    assert reminder_key("reviewer", 4, 9, "before-2d@2027-05-10") == "reviewer:4:9:before-2d@2027-05-10"


def test_plan_groups_by_recipient_escalates_and_skips_what_was_sent() -> None:
    deadline = oslo(2027, 5, 10, 12)
    calls = {1: CallSchedule(DEFAULT_POLICY, OSLO)}
    assigned = deadline - dt.timedelta(days=20)
    pending = [PendingReview(10, 100, 1, deadline, assigned), PendingReview(11, 100, 1, deadline, assigned),
               PendingReview(12, 101, 1, deadline, assigned)]
    now = deadline + dt.timedelta(days=2, minutes=1)  # overdue-1: reviewers reminded, managers told
    plan = plan_sweep(now, calls, pending, [], manager_ids=[7])
    grouped = plan.by_recipient()
    assert sorted(grouped) == [7, 100, 101]
    assert len(grouped[100]) == 2 and len(grouped[7]) == 3
    assert {r.kind for r in grouped[7]} == {"escalation"}
    again = plan_sweep(now, calls, pending, [], [7], already_sent=[r.key for r in plan.reminders])
    assert again.reminders == []


def test_drafts_get_3_and_1_days_before_closing_and_nothing_after() -> None:
    closes = oslo(2027, 6, 1, 12)
    drafts = [OpenDraft(5, 50, 1, closes, closes - dt.timedelta(days=30))]
    calls = {1: CallSchedule(DEFAULT_POLICY, OSLO)}
    assert plan_sweep(closes - dt.timedelta(days=4), calls, [], drafts, []).reminders == []
    [reminder] = plan_sweep(closes - dt.timedelta(days=2), calls, [], drafts, []).reminders
    assert reminder.key == "draft:50:5:before-3d@2027-06-01"
    assert [o.name for o in applicant_occasions(DEFAULT_POLICY, closes, OSLO)] == [
        "before-3d@2027-06-01", "before-1d@2027-06-01"]
    assert plan_sweep(closes + dt.timedelta(minutes=1), calls, [], drafts, []).reminders == []


def test_disabled_policy_sends_nothing_and_weekly_digest_has_one_key_per_iso_week() -> None:
    deadline = oslo(2027, 5, 10, 12)
    off = {1: CallSchedule(ReminderPolicy(enabled=False), OSLO)}
    assert plan_sweep(deadline, off, [PendingReview(1, 2, 1, deadline, deadline - dt.timedelta(days=9))], [], [3]).reminders == []
    weekly = ReminderPolicy(manager_digest_weekday=0, manager_digest_hour=8)
    monday_7 = oslo(2027, 5, 3, 7, 59)
    assert weekly_digest_occasion(weekly, monday_7, OSLO) is None
    occasion = weekly_digest_occasion(weekly, oslo(2027, 5, 3, 8, 0), OSLO)
    assert occasion.name == "week-2027-W18"
    assert weekly_digest_occasion(weekly, oslo(2027, 5, 9, 23, 0), OSLO).name == "week-2027-W18"


@pytest.mark.parametrize(("text", "expected"), [("7, 2, 1", (7, 2, 1)), ("1 2;2", (2, 1)), ("", ())])
def test_parse_days(text: str, expected: tuple[int, ...]) -> None:
    assert parse_days(text, "f") == expected


@pytest.mark.parametrize("policy", [
    ReminderPolicy(reviewer_days_before=(0,)), ReminderPolicy(reviewer_days_before=(61,)),
    ReminderPolicy(overdue_every_days=0), ReminderPolicy(overdue_max=2, escalate_with_overdue=3),
    ReminderPolicy(manager_digest_hour=24), ReminderPolicy(applicant_days_before=tuple(range(1, 9))),
])
def test_bad_policies_are_refused_with_a_field(policy: ReminderPolicy) -> None:
    with pytest.raises(PolicyError) as error:
        policy.validate()
    assert error.value.field


def test_parse_days_refuses_words() -> None:
    with pytest.raises(PolicyError, match="not a whole number"):
        parse_days("seven", "reviewer_days_before")


def test_managers_who_see_a_subject_are_the_unlimited_and_those_sharing_a_programme() -> None:
    scopes = {4: frozenset({2}), 5: frozenset({1})}
    assert managers_who_see([3, 4, 5], scopes, [2]) == [3, 4]
    assert managers_who_see([3, 4, 5], scopes, [1, 2]) == [3, 4, 5]
    assert managers_who_see([3, 4, 5], scopes, []) == [3]  # a subject of no programme: the whole picture only
    assert managers_who_see([3, 4, 5], {}, [None]) == [3, 4, 5]
