"""Reminder policy: which reminders are due now. Pure Python: no Flask, no database.

Every reminder has a deterministic key ``kind:recipient:subject:occasion``. The occasion names
the moment in the policy (``before-7d``, ``overdue-2``, ``week-2027-W13``) and the deadline it
belongs to (its local date), so a moved deadline starts a fresh series while a second sweep, a
second scheduler or a restart computes exactly the same keys again.

Offsets are counted in days of the call's own calendar: "7 days before a deadline at 12:00
Europe/Oslo" is 12:00 Oslo time seven calendar days earlier, whatever daylight-saving change lies
between (so it can be 6 days 23 hours or 7 days 1 hour in UTC).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from incubator.domain.i18n import N_

REVIEWER = "reviewer"
OVERDUE = "overdue"
ESCALATION = "escalation"
DRAFT = "draft"
DIGEST = "digest"
CHECK_IN = "check_in"  # a residency's quarterly check-in, to managers (see domain.check_ins)
KINDS = (REVIEWER, ESCALATION, DRAFT, DIGEST, CHECK_IN)

MAX_OFFSETS = 6
MAX_DAYS_BEFORE = 60
MAX_OVERDUE = 10
WEEKDAYS = (N_("Monday"), N_("Tuesday"), N_("Wednesday"), N_("Thursday"), N_("Friday"), N_("Saturday"),
            N_("Sunday"))


class PolicyError(ValueError):
    """A policy that cannot be used; the message says why, for the person editing it."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ReminderPolicy:
    enabled: bool = True
    reviewer_days_before: tuple[int, ...] = (7, 2, 1)
    overdue_every_days: int = 2
    overdue_max: int = 3
    # With which overdue reminder (1..overdue_max) the managers are told; 0 = never.
    escalate_with_overdue: int = 1
    applicant_days_before: tuple[int, ...] = (3, 1)
    # Weekly progress digest to managers: weekday (0 = Monday) and local hour; None = off.
    manager_digest_weekday: int | None = None
    manager_digest_hour: int = 8

    def validate(self) -> ReminderPolicy:
        for name in ("reviewer_days_before", "applicant_days_before"):
            days = getattr(self, name)
            if len(days) > MAX_OFFSETS:
                raise PolicyError(f"At most {MAX_OFFSETS} reminders before a deadline.", name)
            if any(not 1 <= day <= MAX_DAYS_BEFORE for day in days):
                raise PolicyError(f"Days before a deadline must be between 1 and {MAX_DAYS_BEFORE}.", name)
        if not 1 <= self.overdue_every_days <= 30:
            raise PolicyError("Overdue reminders must be 1 to 30 days apart.", "overdue_every_days")
        if not 0 <= self.overdue_max <= MAX_OVERDUE:
            raise PolicyError(f"At most {MAX_OVERDUE} overdue reminders.", "overdue_max")
        if not 0 <= self.escalate_with_overdue <= self.overdue_max:
            raise PolicyError("The escalation must come with one of the overdue reminders (or 0 for none).",
                              "escalate_with_overdue")
        if self.manager_digest_weekday is not None and not 0 <= self.manager_digest_weekday <= 6:
            raise PolicyError("Choose a weekday for the digest.", "manager_digest_weekday")
        if not 0 <= self.manager_digest_hour <= 23:
            raise PolicyError("The digest hour must be between 0 and 23.", "manager_digest_hour")
        return self

    @property
    def lookback(self) -> dt.timedelta:
        """How long after a deadline reminders can still be due (bounds the database query)."""
        return dt.timedelta(days=self.overdue_every_days * self.overdue_max + 1)

    @property
    def lookahead(self) -> dt.timedelta:
        return dt.timedelta(days=max((*self.reviewer_days_before, *self.applicant_days_before, 0)) + 1)


DEFAULT_POLICY = ReminderPolicy()


def parse_days(text: str, field_name: str) -> tuple[int, ...]:
    """'7, 2, 1' -> (7, 2, 1): distinct whole days, largest first; empty text means none."""
    values: set[int] = set()
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if not part.strip():
            continue
        try:
            values.add(int(part))
        except ValueError as error:
            raise PolicyError(f"'{part.strip()}' is not a whole number of days.", field_name) from error
    return tuple(sorted(values, reverse=True))


def format_days(days: Iterable[int]) -> str:
    return ", ".join(str(day) for day in days)


def zone_of(name: str | None, default: str = "Europe/Oslo") -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def shift_days(moment: dt.datetime, days: int, zone: ZoneInfo) -> dt.datetime:
    """``moment`` moved by whole days on the wall clock of ``zone``; returned in UTC."""
    local = moment.astimezone(zone)
    shifted = (local.replace(tzinfo=None) + dt.timedelta(days=days)).replace(tzinfo=zone)
    return shifted.astimezone(dt.UTC)


@dataclass(frozen=True, order=True)
class Occasion:
    at: dt.datetime  # UTC
    name: str


def _stamp(deadline: dt.datetime, zone: ZoneInfo) -> str:
    return deadline.astimezone(zone).date().isoformat()


def reviewer_occasions(policy: ReminderPolicy, due_at: dt.datetime, zone: ZoneInfo) -> list[Occasion]:
    stamp = _stamp(due_at, zone)
    occasions = [Occasion(shift_days(due_at, -days, zone), f"before-{days}d@{stamp}")
                 for days in policy.reviewer_days_before]
    occasions += [Occasion(shift_days(due_at, number * policy.overdue_every_days, zone), f"overdue-{number}@{stamp}")
                  for number in range(1, policy.overdue_max + 1)]
    return sorted(occasions)


def applicant_occasions(policy: ReminderPolicy, closes_at: dt.datetime, zone: ZoneInfo) -> list[Occasion]:
    stamp = _stamp(closes_at, zone)
    return sorted(Occasion(shift_days(closes_at, -days, zone), f"before-{days}d@{stamp}")
                  for days in policy.applicant_days_before)


def current_occasion(occasions: Sequence[Occasion], now: dt.datetime,
                     not_before: dt.datetime | None = None) -> Occasion | None:
    """The latest occasion that has come (``at <= now``), if it came after ``not_before``.

    Only the latest one: a scheduler that was down for a week sends one reminder with the
    current state, not the whole backlog. Occasions before ``not_before`` (e.g. before the
    reviewer was assigned) are skipped, since an assignment email covered them.
    """
    due = [occasion for occasion in occasions if occasion.at <= now]
    if not due:
        return None
    latest = max(due)
    if not_before is not None and latest.at < not_before:
        return None
    return latest


def reviewer_current(occasions: Sequence[Occasion], due_at: dt.datetime, now: dt.datetime,
                     not_before: dt.datetime | None = None) -> Occasion | None:
    """The reviewer's current occasion; a "due soon" one is dropped once the deadline passed."""
    occasion = current_occasion(occasions, now, not_before)
    if occasion is not None and occasion.name.startswith("before-") and now >= due_at:
        return None
    return occasion


def next_occasion(occasions: Sequence[Occasion], now: dt.datetime) -> Occasion | None:
    upcoming = [occasion for occasion in occasions if occasion.at > now]
    return min(upcoming) if upcoming else None


def weekly_digest_occasion(policy: ReminderPolicy, now: dt.datetime, zone: ZoneInfo) -> Occasion | None:
    """This week's digest moment in the call's zone, once it has come; None when digests are off."""
    if policy.manager_digest_weekday is None:
        return None
    local = now.astimezone(zone)
    monday = local.date() - dt.timedelta(days=local.weekday())
    day = monday + dt.timedelta(days=policy.manager_digest_weekday)
    at = dt.datetime.combine(day, dt.time(policy.manager_digest_hour), tzinfo=zone).astimezone(dt.UTC)
    if at > now:
        return None
    year, week, _ = day.isocalendar()
    return Occasion(at, f"week-{year}-W{week:02d}")


def reminder_key(kind: str, recipient_id: int, subject_id: int, occasion: str) -> str:
    """The deterministic identity of one reminder, under a unique constraint in the database."""
    return f"{kind}:{recipient_id}:{subject_id}:{occasion}"


# --- The decision for one sweep ---------------------------------------------------------------

@dataclass(frozen=True)
class PendingReview:
    """An assignment whose review is not submitted, of an application still in review."""

    assignment_id: int
    reviewer_id: int
    call_id: int
    due_at: dt.datetime
    assigned_at: dt.datetime


@dataclass(frozen=True)
class OpenDraft:
    application_id: int
    applicant_id: int  # whom to remind: the owner or a member of the team (one draft each)
    call_id: int
    closes_at: dt.datetime
    created_at: dt.datetime


@dataclass(frozen=True)
class DueReminder:
    key: str
    kind: str
    recipient_id: int
    subject_id: int  # assignment, application or call id
    occasion: str
    at: dt.datetime


@dataclass
class CallSchedule:
    policy: ReminderPolicy
    zone: ZoneInfo


def managers_who_see(manager_ids: Sequence[int], scopes: Mapping[int, Collection[int]],
                     programme_ids: Collection[int | None]) -> list[int]:
    """The managers among ``manager_ids`` whose programme scope covers a subject of
    ``programme_ids``: a manager absent from ``scopes`` sees every programme, a limited one only
    subjects in one of theirs (a BioVentureHub manager is not told about OCC-only residents)."""
    wanted = {programme_id for programme_id in programme_ids if programme_id is not None}
    return [manager_id for manager_id in manager_ids
            if manager_id not in scopes or not wanted.isdisjoint(scopes[manager_id])]


@dataclass
class SweepPlan:
    reminders: list[DueReminder] = field(default_factory=list)

    def by_recipient(self) -> dict[int, list[DueReminder]]:
        grouped: dict[int, list[DueReminder]] = {}
        for reminder in sorted(self.reminders, key=lambda r: (r.recipient_id, r.key)):
            grouped.setdefault(reminder.recipient_id, []).append(reminder)
        return grouped


def plan_sweep(
    now: dt.datetime,
    calls: dict[int, CallSchedule],
    pending_reviews: Iterable[PendingReview],
    open_drafts: Iterable[OpenDraft],
    manager_ids: Sequence[int],
    digest_call_ids: Iterable[int] = (),
    already_sent: Iterable[str] = (),
    scopes: Mapping[int, Collection[int]] | None = None,
    call_programmes: Mapping[int, Collection[int]] | None = None,
) -> SweepPlan:
    """Every reminder due at ``now`` that is not in ``already_sent``.

    Reviewers: the latest of the before-deadline and overdue occasions that has come. Managers:
    an escalation per overdue assignment when its overdue reminder number reaches the policy's
    ``escalate_with_overdue``. Applicants: the latest before-closing occasion of a draft.
    Managers: the weekly digest of each call in ``digest_call_ids`` once its moment has come,
    for a manager limited to some programmes (``scopes``) only of calls offering one of them
    (``call_programmes``). Escalations go to every manager here; the caller drops those about
    applications outside a limited manager's programmes (which programmes an application
    concerns is a question for the database).
    """
    sent = set(already_sent)
    plan = SweepPlan()

    def add(kind: str, recipient: int, subject: int, occasion: Occasion) -> None:
        key = reminder_key(kind, recipient, subject, occasion.name)
        if key not in sent:
            sent.add(key)
            plan.reminders.append(DueReminder(key, kind, recipient, subject, occasion.name, occasion.at))

    occasion_cache: dict[tuple[int, dt.datetime], list[Occasion]] = {}
    for review in pending_reviews:
        schedule = calls.get(review.call_id)
        if schedule is None or not schedule.policy.enabled:
            continue
        cache_key = (review.call_id, review.due_at)
        occasions = occasion_cache.get(cache_key)
        if occasions is None:
            occasions = occasion_cache[cache_key] = reviewer_occasions(schedule.policy, review.due_at, schedule.zone)
        occasion = reviewer_current(occasions, review.due_at, now, review.assigned_at)
        if occasion is None:
            continue
        add(REVIEWER, review.reviewer_id, review.assignment_id, occasion)
        escalate = schedule.policy.escalate_with_overdue
        if escalate and occasion.name.startswith(f"overdue-{escalate}@"):
            for manager_id in manager_ids:
                add(ESCALATION, manager_id, review.assignment_id, occasion)

    for draft in open_drafts:
        schedule = calls.get(draft.call_id)
        if schedule is None or not schedule.policy.enabled or draft.closes_at <= now:
            continue
        occasion = current_occasion(applicant_occasions(schedule.policy, draft.closes_at, schedule.zone), now,
                                    draft.created_at)
        if occasion is not None:
            add(DRAFT, draft.applicant_id, draft.application_id, occasion)

    for call_id in digest_call_ids:
        schedule = calls.get(call_id)
        if schedule is None or not schedule.policy.enabled:
            continue
        occasion = weekly_digest_occasion(schedule.policy, now, schedule.zone)
        if occasion is not None:
            for manager_id in managers_who_see(manager_ids, scopes or {}, (call_programmes or {}).get(call_id, ())):
                add(DIGEST, manager_id, call_id, occasion)
    return plan
