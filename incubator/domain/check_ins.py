"""Quarterly check-ins of a residency, and when managers are reminded of them. Pure Python.

The schedule is derived, never stored: a check-in falls due every three months from the start of
the stay while the stay lasts, so extending or ending a residency early changes the schedule by
itself. A recorded check-in is a row keyed by (residency, due date).

Reminders use the ledger of ``domain.reminders``: the key names the manager, the residency and an
occasion naming the check-in's due date and the offset (``before-7d@2027-04-01``,
``due@2027-04-01``), so every check-in reminds each manager at most once per offset. Managers
limited to some programmes are reminded only of residents in those programmes' slots.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from incubator.domain.reminders import (
    CHECK_IN,
    DueReminder,
    Occasion,
    current_occasion,
    managers_who_see,
    reminder_key,
)

MONTHS_BETWEEN = 3
MAX_CHECK_INS = 40  # ten years of quarters: a bound for any page or loop over one schedule
REMIND_DAYS_BEFORE = 7
REMIND_HOUR = 9  # local time: managers read these at the start of a working day
# A check-in still not recorded this long after its date is no longer reminded of.
REMIND_LOOKBACK = dt.timedelta(days=30)
REMIND_LOOKAHEAD = dt.timedelta(days=REMIND_DAYS_BEFORE + 1)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months; the 31st becomes the month's last day where it has none."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def check_in_dates(starts_on: dt.date, ends_on: dt.date) -> list[dt.date]:
    """Every three months from the start, while the stay lasts (``ends_on`` is the first day after it)."""
    dates = []
    for number in range(1, MAX_CHECK_INS + 1):
        due = add_months(starts_on, number * MONTHS_BETWEEN)
        if due >= ends_on:
            break
        dates.append(due)
    return dates


def check_in_occasions(due_on: dt.date, zone: ZoneInfo) -> list[Occasion]:
    """A week before the check-in and on its day, at the start of the working day in ``zone``."""
    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(REMIND_HOUR), tzinfo=zone).astimezone(dt.UTC)

    stamp = due_on.isoformat()
    return [Occasion(at(due_on - dt.timedelta(days=REMIND_DAYS_BEFORE)), f"before-{REMIND_DAYS_BEFORE}d@{stamp}"),
            Occasion(at(due_on), f"due@{stamp}")]


def due_on_of(occasion: str) -> dt.date:
    """The check-in date an occasion name belongs to."""
    return dt.date.fromisoformat(occasion.rpartition("@")[2])


@dataclass(frozen=True)
class ResidencyStay:
    residency_id: int
    starts_on: dt.date
    ends_on: dt.date
    programme_id: int | None = None  # of the slot: whose managers follow the resident


def plan_check_in_reminders(now: dt.datetime, stays: Iterable[ResidencyStay], done: set[tuple[int, dt.date]],
                            manager_ids: Sequence[int], zone: ZoneInfo,
                            already_sent: Iterable[str] = (),
                            scopes: Mapping[int, Collection[int]] | None = None) -> list[DueReminder]:
    """For each check-in not recorded yet: its latest occasion that has come, once per manager
    whose scope (``scopes``: manager -> programmes, absent = every programme) covers the stay.

    Only the latest: a scheduler down for a week sends the "due" reminder, not both.
    """
    sent = set(already_sent)
    reminders = []
    today = now.astimezone(zone).date()
    for stay in stays:
        for due_on in check_in_dates(stay.starts_on, stay.ends_on):
            if (stay.residency_id, due_on) in done or not (
                    today - REMIND_LOOKBACK <= due_on <= today + REMIND_LOOKAHEAD):
                continue
            occasion = current_occasion(check_in_occasions(due_on, zone), now)
            if occasion is None:
                continue
            for manager_id in managers_who_see(manager_ids, scopes or {}, [stay.programme_id]):
                key = reminder_key(CHECK_IN, manager_id, stay.residency_id, occasion.name)
                if key not in sent:
                    sent.add(key)
                    reminders.append(DueReminder(key, CHECK_IN, manager_id, stay.residency_id, occasion.name,
                                                 occasion.at))
    return reminders
