"""From applications and residency slots to a stable-matching instance, and back.

Pure data in, pure data out; ``services.match_runs`` fetches the rows and turns the result
into offers. The solver itself is ``domain.matching`` (applicant-proposing deferred acceptance).

Time works in whole months: a period is a half-open range ``[start, end)`` of first-of-month
dates, so a 12-month stay from January 2027 is ``[2027-01-01, 2028-01-01)``.

How applicants rank slots (best first), only among slots that can take them at all:

1. their programme preferences, in the order they ranked the programmes;
2. space fit: a slot of exactly their space type before one that merely satisfies it. An
   office + lab place satisfies an office-desk or a lab-bench need (it has both), but is the
   second choice, so combined places are not used up by startups who need only half of one; an
   office-desk place never satisfies a lab need, nor the reverse, and an office + lab need is
   met only by an office + lab place;
3. the earlier slot, then the slot id, so the order is total and the result reproducible.

A slot can take an applicant when its period covers the applicant's whole stay (desired start
month, for the desired number of months) and it has a free place in every one of those months,
counting residencies and outstanding offers already made.

Slots rank applicants by the call's ranking (position 1 = best), unranked applicants last, ties
broken by earlier submission, then id.

Capacity given to the solver is the slot's capacity minus its highest occupancy in any month
that some applicant listing it would use. That is conservative (two newcomers whose stays do not
overlap still count as two places) and so can never overbook; confirming re-checks month by
month with the real periods (``over_capacity``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from incubator.domain.matching import MatchingInstance, MatchingResult, blocking_pairs, solve_matching
from incubator.domain.matching import Slot as MatchingSlot

Period = tuple[dt.date, dt.date]

# need -> {slot space type: fit}; 0 = exactly what they asked for, 1 = satisfies it.
SPACE_FIT: dict[str, dict[str, int]] = {
    "office_desk": {"office_desk": 0, "office_lab": 1},
    "lab_bench": {"lab_bench": 0, "office_lab": 1},
    "office_lab": {"office_lab": 0},
}

# Why an applicant got no place; the web layer turns these into sentences.
NO_PERIOD = "no_period"  # no desired start or length in the application
NO_PROGRAMME_SLOT = "no_programme_slot"  # no slot in any programme they ranked
NO_SPACE_TYPE = "no_space_type"  # slots in their programmes, none of their space type
NO_WINDOW = "no_window"  # slots of their type, none covering their start month and length
NO_CAPACITY = "no_capacity"  # slots that fit, all full somewhere in their window
OUTRANKED = "outranked"  # free places went to applicants the slots ranked higher
REASONS = (NO_PERIOD, NO_PROGRAMME_SLOT, NO_SPACE_TYPE, NO_WINDOW, NO_CAPACITY, OUTRANKED)


# ------------------------------------------------------------------------------- months


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, months: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def months_in(start: dt.date, end: dt.date) -> list[dt.date]:
    """First days of the months that a period ``[start, end)`` touches."""
    months, month = [], month_start(start)
    while month < end:
        months.append(month)
        month = add_months(month, 1)
    return months


def slot_months(starts_on: dt.date, ends_on: dt.date) -> Period:
    """The whole months inside a slot's ``[starts_on, ends_on)``: a slot opening mid-month
    cannot host a stay that starts on the first of that month."""
    first = month_start(starts_on) if starts_on.day == 1 else add_months(month_start(starts_on), 1)
    return first, month_start(ends_on)


def monthly_occupancy(periods: Iterable[Period], months: Sequence[dt.date]) -> dict[dt.date, int]:
    """How many of ``periods`` touch each month (a stay ending mid-month still takes it)."""
    counts = dict.fromkeys(months, 0)
    for start, end in periods:
        for month in months_in(start, end):
            if month in counts:
                counts[month] += 1
    return counts


# ------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Candidate:
    """An application taking part in the match."""

    id: str
    programme_ids: tuple[int, ...]  # ranked, first choice first
    space_type: str | None  # None: any space will do
    desired_start: dt.date | None
    length_months: int | None
    rank: int | None = None  # position in the call's ranking, 1 = best; None = not ranked
    submitted_at: dt.datetime | None = None

    @property
    def period(self) -> Period | None:
        if self.desired_start is None or not self.length_months or self.length_months < 1:
            return None
        start = month_start(self.desired_start)
        return start, add_months(start, self.length_months)


@dataclass(frozen=True)
class SlotSpec:
    id: str
    programme_id: int
    space_type: str
    capacity: int
    starts_on: dt.date
    ends_on: dt.date  # exclusive
    # Places already taken per month (residencies and outstanding offers); missing = 0.
    occupied: Mapping[dt.date, int] = field(default_factory=dict)

    def free_in(self, period: Period) -> int:
        busiest = max((self.occupied.get(month, 0) for month in months_in(*period)), default=0)
        return max(self.capacity - busiest, 0)

    def covers(self, period: Period) -> bool:
        first, end = slot_months(self.starts_on, self.ends_on)
        return first <= period[0] and period[1] <= end


def space_fit(need: str | None, offered: str) -> int | None:
    """0 exact, 1 satisfies, None cannot host this need."""
    if need is None:
        return 0
    return SPACE_FIT.get(need, {}).get(offered)


# ------------------------------------------------------------------------------ building


@dataclass(frozen=True, eq=False)
class BuiltInstance:
    instance: MatchingInstance
    candidates: dict[str, Candidate]
    slots: dict[str, SlotSpec]
    periods: dict[str, Period]  # candidates with a usable period
    no_option: dict[str, str]  # candidates with no slot to list -> reason code


def build_instance(candidates: Iterable[Candidate], slots: Iterable[SlotSpec]) -> BuiltInstance:
    by_id = {candidate.id: candidate for candidate in candidates}
    slot_by_id = {slot.id: slot for slot in slots}
    periods: dict[str, Period] = {}
    lists: dict[str, tuple[str, ...]] = {}
    no_option: dict[str, str] = {}
    for candidate in by_id.values():
        period = candidate.period
        if period is not None:
            periods[candidate.id] = period
        listed, reason = _rank_slots(candidate, period, slot_by_id.values())
        lists[candidate.id] = listed
        if reason is not None:
            no_option[candidate.id] = reason
    matching_slots = {
        slot.id: _matching_slot(slot, by_id, lists, periods) for slot in slot_by_id.values()
    }
    instance = MatchingInstance(applicants=lists, slots=matching_slots)
    return BuiltInstance(instance, by_id, slot_by_id, periods, no_option)


def _rank_slots(
    candidate: Candidate, period: Period | None, slots: Iterable[SlotSpec]
) -> tuple[tuple[str, ...], str | None]:
    """The candidate's acceptable slots, best first, or () and the reason there are none."""
    if period is None:
        return (), NO_PERIOD
    preference = {programme: index for index, programme in enumerate(candidate.programme_ids)}
    in_programmes = [slot for slot in slots if slot.programme_id in preference]
    if not in_programmes:
        return (), NO_PROGRAMME_SLOT
    of_type = [slot for slot in in_programmes if space_fit(candidate.space_type, slot.space_type) is not None]
    if not of_type:
        return (), NO_SPACE_TYPE
    in_window = [slot for slot in of_type if slot.covers(period)]
    if not in_window:
        return (), NO_WINDOW
    with_room = [slot for slot in in_window if slot.free_in(period) > 0]
    if not with_room:
        return (), NO_CAPACITY
    with_room.sort(key=lambda slot: (preference[slot.programme_id], space_fit(candidate.space_type, slot.space_type),
                                     slot.starts_on, slot.id))
    return tuple(slot.id for slot in with_room), None


def applicant_order_key(candidate: Candidate) -> tuple[bool, int, dt.datetime, str]:
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    submitted = candidate.submitted_at or far_future
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=dt.UTC)
    return (candidate.rank is None, candidate.rank or 0, submitted, candidate.id)


def _matching_slot(
    slot: SlotSpec,
    candidates: Mapping[str, Candidate],
    lists: Mapping[str, tuple[str, ...]],
    periods: Mapping[str, Period],
) -> MatchingSlot:
    listing = [candidates[c] for c, listed in lists.items() if slot.id in listed]
    listing.sort(key=applicant_order_key)
    months = sorted({month for c in listing for month in months_in(*periods[c.id])})
    busiest = max((slot.occupied.get(month, 0) for month in months), default=0)
    return MatchingSlot(capacity=max(slot.capacity - busiest, 0), ranking=tuple(c.id for c in listing))


# ------------------------------------------------------------------------------- solving


@dataclass(frozen=True)
class MatchOutcome:
    placements: dict[str, str]  # candidate -> slot
    unmatched: dict[str, str]  # candidate -> reason code


def solve(built: BuiltInstance) -> MatchOutcome:
    result = solve_matching(built.instance)
    placements = {candidate: slot for slot, held in result.matching.items() for candidate in held}
    return MatchOutcome(placements=placements, unmatched=explain_unmatched(built, result))


def explain_unmatched(built: BuiltInstance, result: MatchingResult | Mapping[str, str]) -> dict[str, str]:
    """A reason for each candidate without a place, in a result or a hand-edited placement."""
    if isinstance(result, MatchingResult):
        placed = {candidate for held in result.matching.values() for candidate in held}
    else:
        placed = set(result)
    return {
        candidate: built.no_option.get(candidate, OUTRANKED)
        for candidate in sorted(built.candidates)
        if candidate not in placed
    }


# ----------------------------------------------------------------- checking an adjustment


@dataclass(frozen=True)
class CapacityProblem:
    slot: str
    month: dt.date
    wanted: int  # occupied before plus newly placed
    capacity: int


@dataclass(frozen=True)
class AdjustmentCheck:
    blocking: list[tuple[str, str]]  # (candidate, slot) pairs that would rather be together
    outside_period: list[tuple[str, str]]  # placed where the slot's period cannot hold the stay
    not_acceptable: list[tuple[str, str]]  # placed in a slot they did not list (programme, type)
    over_capacity: list[CapacityProblem]

    @property
    def refused(self) -> bool:
        """Errors that confirming must refuse; blocking pairs and unlisted slots only warn."""
        return bool(self.outside_period or self.over_capacity)


def check_placements(built: BuiltInstance, placements: Mapping[str, str]) -> AdjustmentCheck:
    """Check a (possibly hand-edited) candidate -> slot placement against the instance."""
    unknown = [c for c in placements if c not in built.candidates] + [
        s for s in placements.values() if s not in built.slots
    ]
    if unknown:
        raise ValueError(f"unknown id {unknown[0]!r} in the placement")
    outside = sorted(
        (c, s) for c, s in placements.items()
        if c not in built.periods or not built.slots[s].covers(built.periods[c])
    )
    not_acceptable = sorted(
        (c, s) for c, s in placements.items() if s not in built.instance.applicants.get(c, ())
    )
    by_slot: dict[str, list[str]] = {}
    for candidate, slot in placements.items():
        by_slot.setdefault(slot, []).append(candidate)
    return AdjustmentCheck(
        blocking=blocking_pairs(built.instance, by_slot),
        outside_period=outside,
        not_acceptable=not_acceptable,
        over_capacity=over_capacity(built, placements),
    )


def over_capacity(built: BuiltInstance, placements: Mapping[str, str]) -> list[CapacityProblem]:
    """Months in which a slot would hold more than its capacity, month by month with the real
    periods (so two stays one after the other share a place)."""
    problems = []
    newcomers: dict[str, list[Period]] = {}
    for candidate, slot in placements.items():
        if candidate in built.periods:
            newcomers.setdefault(slot, []).append(built.periods[candidate])
    for slot_id, periods in sorted(newcomers.items()):
        slot = built.slots[slot_id]
        months = sorted({month for period in periods for month in months_in(*period)})
        added = monthly_occupancy(periods, months)
        for month in months:
            wanted = slot.occupied.get(month, 0) + added[month]
            if wanted > slot.capacity:
                problems.append(CapacityProblem(slot_id, month, wanted, slot.capacity))
    return problems
