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
from functools import lru_cache
from itertools import groupby

from incubator.domain.matching import MatchingInstance, MatchingResult, blocking_pairs, solve_matching
from incubator.domain.matching import Slot as MatchingSlot

Period = tuple[dt.date, dt.date]

# need -> {slot space type: fit}; 0 = exactly what they asked for, 1 = satisfies it.
SPACE_FIT: dict[str, dict[str, int]] = {
    "office_desk": {"office_desk": 0, "office_lab": 1},
    "lab_bench": {"lab_bench": 0, "office_lab": 1},
    "office_lab": {"office_lab": 0},
}

SPACE_TYPES_OFFERED = ("office_desk", "lab_bench", "office_lab")  # every slot is one of these

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


@lru_cache(maxsize=4096)
def _months_of(period: Period) -> tuple[dt.date, ...]:
    """``months_in`` for the few distinct periods a match has, computed once each."""
    return tuple(months_in(*period))


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
        if not self.occupied:  # most slots of a new intake: nobody there yet
            return self.capacity
        busiest = max((self.occupied.get(month, 0) for month in _months_of(period)), default=0)
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
    lists, periods, no_option = _acceptable_lists(by_id.values(), _SlotIndex(slot_by_id.values()))
    listing: dict[str, list[str]] = {slot_id: [] for slot_id in slot_by_id}
    listed_periods: dict[str, set[Period]] = {slot_id: set() for slot_id in slot_by_id}
    # Inverted once, candidates in the slots' common order, so every slot's ranking comes out
    # sorted: O(entries), no sort per slot.
    for candidate_id in _in_slot_order(by_id, lists):
        for slot_id in lists[candidate_id]:
            listing[slot_id].append(candidate_id)
            listed_periods[slot_id].add(periods[candidate_id])
    matching_slots = {slot.id: MatchingSlot(capacity=_capacity_for(slot, listed_periods[slot.id]),
                                            ranking=tuple(listing[slot.id]))
                      for slot in slot_by_id.values()}
    instance = MatchingInstance(applicants=lists, slots=matching_slots)
    return BuiltInstance(instance, by_id, slot_by_id, periods, no_option)


def _acceptable_lists(candidates: Iterable[Candidate], index: _SlotIndex
                      ) -> tuple[dict[str, tuple[str, ...]], dict[str, Period], dict[str, str]]:
    """Each candidate's acceptable slots (best first), its period if usable, and the reason
    for those with no slot to list.

    A list depends only on the programmes ranked, the space needed and the period, which
    thousands of candidates share, so each distinct combination is ranked once.
    """
    lists: dict[str, tuple[str, ...]] = {}
    periods: dict[str, Period] = {}
    no_option: dict[str, str] = {}
    ranked: dict[tuple[tuple[int, ...], str | None, Period | None], tuple[tuple[str, ...], str | None]] = {}
    for candidate in candidates:
        period = candidate.period
        if period is not None:
            periods[candidate.id] = period
        key = (candidate.programme_ids, candidate.space_type, period)
        if key not in ranked:
            ranked[key] = _rank_slots(candidate, period, index)
        listed, reason = ranked[key]
        lists[candidate.id] = listed
        if reason is not None:
            no_option[candidate.id] = reason
    return lists, periods, no_option


def _in_slot_order(candidates: Mapping[str, Candidate], ids: Iterable[str]) -> list[str]:
    """``ids`` in the order every slot ranks candidates (``applicant_order_key``)."""
    return sorted(ids, key=lambda candidate_id: applicant_order_key(candidates[candidate_id]))


def _capacity_for(slot: SlotSpec, periods: Iterable[Period]) -> int:
    """Places the solver may fill: capacity less the busiest month any lister would use."""
    if not slot.occupied:  # most slots of a new intake: nobody there yet
        return slot.capacity
    months = {month for period in periods for month in _months_of(period)}
    busiest = max((slot.occupied.get(month, 0) for month in months), default=0)
    return max(slot.capacity - busiest, 0)


class _SlotIndex:
    """Slots grouped by (programme, space type), each group's answer per period remembered.

    Many candidates share a programme, a space type and a period (a few dozen start months times
    a few lengths), so ranking a candidate's slots costs its groups plus the slots it lists: the
    instance is built in O(entries), not O(candidates x slots).
    """

    def __init__(self, slots: Iterable[SlotSpec]) -> None:
        self.groups: dict[tuple[int, str], list[SlotSpec]] = {}
        for slot in slots:
            self.groups.setdefault((slot.programme_id, slot.space_type), []).append(slot)
        for group in self.groups.values():
            group.sort(key=lambda slot: (slot.starts_on, slot.id))
        self.programmes = {programme for programme, _ in self.groups}
        self.order = {slot.id: (slot.starts_on, slot.id) for group in self.groups.values() for slot in group}
        self.months = {slot.id: slot_months(slot.starts_on, slot.ends_on) for group in self.groups.values()
                       for slot in group}  # ``SlotSpec.covers`` without recomputing them per period
        self._fits: dict[tuple[int, str, Period], tuple[bool, tuple[str, ...]]] = {}

    def fitting(self, programme: int, space_type: str, period: Period) -> tuple[bool, tuple[str, ...]]:
        """(any slot of the group covers the period, the covering slots with room, in order)."""
        key = (programme, space_type, period)
        if key not in self._fits:
            covering = [slot for slot in self.groups[(programme, space_type)]
                        if self.months[slot.id][0] <= period[0] and period[1] <= self.months[slot.id][1]]
            self._fits[key] = (bool(covering), tuple(slot.id for slot in covering if slot.free_in(period) > 0))
        return self._fits[key]


def _rank_slots(candidate: Candidate, period: Period | None, index: _SlotIndex) -> tuple[tuple[str, ...], str | None]:
    """The candidate's acceptable slots, best first, or () and the reason there are none.

    Best first: programme preference, then space fit, then the earlier slot, then slot id; each
    (programme, space type) group is already in (start, id) order, so groups are concatenated.
    """
    if period is None:
        return (), NO_PERIOD
    groups = []
    for preference, programme in enumerate(dict.fromkeys(candidate.programme_ids)):
        for space_type in SPACE_TYPES_OFFERED:
            fit = space_fit(candidate.space_type, space_type)
            if fit is not None and (programme, space_type) in index.groups:
                groups.append((preference, fit, programme, space_type))
    if not any(programme in index.programmes for programme in candidate.programme_ids):
        return (), NO_PROGRAMME_SLOT
    if not groups:
        return (), NO_SPACE_TYPE
    groups.sort()
    covered, listed = False, []
    for _, same_rank in groupby(groups, key=lambda group: group[:2]):
        chunk: list[str] = []
        parts = 0
        for _, _, programme, space_type in same_rank:
            any_covering, with_room = index.fitting(programme, space_type, period)
            covered = covered or any_covering
            chunk.extend(with_room)
            parts += 1
        if parts > 1:  # equal preference and fit (any space will do): earlier slot first, across types
            chunk.sort(key=index.order.__getitem__)
        listed.extend(chunk)
    if not covered:
        return (), NO_WINDOW
    if not listed:
        return (), NO_CAPACITY
    return tuple(listed), None


def applicant_order_key(candidate: Candidate) -> tuple[bool, int, dt.datetime, str]:
    far_future = dt.datetime.max.replace(tzinfo=dt.UTC)
    submitted = candidate.submitted_at or far_future
    if submitted.tzinfo is None:
        submitted = submitted.replace(tzinfo=dt.UTC)
    return (candidate.rank is None, candidate.rank or 0, submitted, candidate.id)


# ------------------------------------------------------------------------------- solving


@dataclass(frozen=True)
class MatchOutcome:
    placements: dict[str, str]  # candidate -> slot
    unmatched: dict[str, str]  # candidate -> reason code


def solve(built: BuiltInstance) -> MatchOutcome:
    result = solve_matching(built.instance)
    placements = {candidate: slot for slot, held in result.matching.items() for candidate in held}
    return MatchOutcome(placements=placements, unmatched=explain_unmatched(built, result))


def match(candidates: Iterable[Candidate], slots: Iterable[SlotSpec]) -> MatchOutcome:
    """The outcome of ``solve(build_instance(candidates, slots))``, without building the instance.

    Every slot ranks the candidates who list it in one common order (``applicant_order_key``:
    the call's ranking, then submission, then id). With a common order, applicant-proposing
    deferred acceptance ends in serial dictatorship: in that order, each candidate takes the
    first slot of its list with a free place (nobody ranked higher can be displaced by a later
    proposer, so nobody is ever rejected after being held). That is one pass over the lists,
    O(entries), with no ranking per slot and no string-keyed instance of millions of pairs to
    build and validate; ``tests/unit/test_residency_matching.py`` checks it against ``solve``.
    """
    by_id = {candidate.id: candidate for candidate in candidates}
    slot_by_id = {slot.id: slot for slot in slots}
    lists, periods, no_option = _acceptable_lists(by_id.values(), _SlotIndex(slot_by_id.values()))
    listed_periods: dict[str, set[Period]] = {slot_id: set() for slot_id, slot in slot_by_id.items() if slot.occupied}
    for listed, period in {(lists[c], periods[c]) for c in lists if lists[c]}:  # a few hundred distinct
        for slot_id in listed:
            if slot_id in listed_periods:
                listed_periods[slot_id].add(period)
    free = {slot_id: _capacity_for(slot, listed_periods.get(slot_id, ())) for slot_id, slot in slot_by_id.items()}
    placements: dict[str, str] = {}
    for candidate_id in _in_slot_order(by_id, (c for c, listed in lists.items() if listed)):
        for slot_id in lists[candidate_id]:
            if free[slot_id] > 0:
                free[slot_id] -= 1
                placements[candidate_id] = slot_id
                break
    unmatched = {candidate: no_option.get(candidate, OUTRANKED) for candidate in sorted(by_id)
                 if candidate not in placements}
    return MatchOutcome(placements=placements, unmatched=unmatched)


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
