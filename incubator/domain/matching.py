"""Stable matching of applicants to residency slots (the hospitals/residents problem).

Each applicant lists the slots they want, best first; each slot ranks the applicants it
would accept, best first, and has a capacity. A pair is *acceptable* only if each side lists
the other: an applicant missing from a slot's ranking is unacceptable to that slot, and a
slot an applicant did not list is unacceptable to the applicant.

A matching is *stable* when no acceptable pair (a, s) would both rather be together: a is
unmatched or prefers s to its slot, and s has a free place or prefers a to one of the
applicants it holds. We return the applicant-optimal stable matching (every applicant gets
the best slot they can have in any stable matching), computed by applicant-proposing
deferred acceptance (Gale-Shapley with capacities). That matching is unique, so the result
does not depend on the order applicants are processed in.

Input (JSON, see ``solve_matching_json``)::

    {"applicants": {"a1": ["s1", "s2"], "a2": ["s1"]},
     "slots": {"s1": {"capacity": 1, "ranking": ["a2", "a1"]},
               "s2": {"capacity": 2, "ranking": ["a1"]}}}

Output::

    {"matching": {"s1": ["a2"], "s2": ["a1"]}, "unmatched": []}

Every slot appears in ``matching`` (an empty list when it gets nobody); slots and each
slot's applicants are sorted by id, as is ``unmatched``, so outputs diff cleanly.

Complexity: O(P log C) for P preference entries and the largest capacity C: each applicant
proposes to each listed slot at most once and each proposal costs one heap operation.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from itertools import chain

from incubator.domain.errors import (
    MAX_COUNT,
    InstanceError,
    parse_json,
    quote,
    require_array,
    require_count,
    require_keys,
    require_object,
    type_name,
)
from incubator.domain.memory import garbage_collection_paused

ApplicantId = str
SlotId = str
SLOT_KEYS = {"capacity", "ranking"}


@dataclass(frozen=True)
class Slot:
    capacity: int
    ranking: tuple[ApplicantId, ...]  # acceptable applicants, best first


@dataclass(frozen=True, eq=False)
class MatchingInstance:
    """A validated matching instance; constructing one checks every cross-reference."""

    applicants: dict[ApplicantId, tuple[SlotId, ...]]  # acceptable slots, best first
    slots: dict[SlotId, Slot]

    def __post_init__(self) -> None:
        _check_slots(self.slots, self.applicants)
        _check_applicants(self.applicants, self.slots)


@dataclass(frozen=True)
class MatchingResult:
    matching: dict[SlotId, list[ApplicantId]]  # every slot, applicants sorted by id
    unmatched: list[ApplicantId]  # sorted

    def to_dict(self) -> dict[str, object]:
        return {
            "matching": {slot: list(held) for slot, held in self.matching.items()},
            "unmatched": list(self.unmatched),
        }


# --------------------------------------------------------------------------- validation


def _check_applicants(
    applicants: Mapping[ApplicantId, tuple[SlotId, ...]], slots: Mapping[SlotId, Slot]
) -> None:
    lists = applicants.values()
    # The whole instance at once, at C speed (map, set, chain: no Python code per id); the
    # per-applicant loop runs only when something is wrong, to name the first culprit.
    if list(map(len, map(set, lists))) == list(map(len, lists)) and slots.keys() >= set(chain.from_iterable(lists)):
        return
    known = slots.keys()
    for applicant, prefs in applicants.items():
        distinct = set(prefs)
        if len(distinct) != len(prefs):
            raise InstanceError(
                f"applicant {quote(applicant)} ranks slot {quote(_first_duplicate(prefs))} more than once"
            )
        if not known >= distinct:
            unknown = next(s for s in prefs if s not in slots)
            raise InstanceError(f"applicant {quote(applicant)} ranks unknown slot {quote(unknown)}")


def _check_slots(slots: Mapping[SlotId, Slot], applicants: Mapping[ApplicantId, tuple[SlotId, ...]]) -> None:
    # As for the applicants: in bulk first. One set of every ranked id checked against the
    # applicants once, not a subset check per slot: those looked up a 100,000-entry dict 450,000
    # times, most of them cache misses (0.12 s, measured), where the union sees each id once.
    rankings = [slot.ranking for slot in slots.values()]
    if (all(_is_count(slot.capacity) for slot in slots.values())
            and list(map(len, map(set, rankings))) == list(map(len, rankings))
            and set(chain.from_iterable(rankings)).issubset(applicants)):
        return
    known = applicants.keys()
    for slot_id, slot in slots.items():
        if not _is_count(slot.capacity):
            require_count(slot.capacity, f"slot {quote(slot_id)}: capacity")  # raises, saying why
        ranking = slot.ranking
        distinct = set(ranking)
        if len(distinct) != len(ranking):
            raise InstanceError(
                f"slot {quote(slot_id)} ranks applicant {quote(_first_duplicate(ranking))} more than once"
            )
        if not known >= distinct:
            unknown = next(a for a in ranking if a not in applicants)
            raise InstanceError(f"slot {quote(slot_id)} ranks unknown applicant {quote(unknown)}")


def _first_duplicate(items: Iterable[str]) -> str:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    raise AssertionError("no duplicate")  # pragma: no cover - callers checked first


def _is_count(value: object) -> bool:
    return type(value) is int and 0 <= value <= MAX_COUNT


def _id_list(value: object, where: Callable[[], str], what: str) -> tuple[str, ...]:
    """A list of id strings as a tuple. ``where`` names it in an error message, and is called
    only to write one: quoting 100,000 ids up front cost more than the solve (measured)."""
    if type(value) is not list:
        require_array(value, where())  # raises, saying what it got
    items: list[object] = value  # type: ignore[assignment]
    if not all(type(item) is str for item in items):
        culprit = next(item for item in items if type(item) is not str)
        raise InstanceError(f"{where()} must contain {what} ids (strings), got {quote(culprit)}")
    return tuple(items)  # type: ignore[arg-type]


def _all_id_lists(values: Collection[object]) -> bool:
    """Whether every value is a list of strings, checked at C speed (``map(type, ...)`` into a
    set: no Python code per id); ``_id_list`` then names the first culprit of a bad one."""
    return set(map(type, values)) <= {list} and set(map(type, chain.from_iterable(values))) <= {str}  # type: ignore[arg-type]


def parse_matching_instance(data: object) -> MatchingInstance:
    """Check the shape of already-decoded JSON and build a validated instance."""
    top = require_object(data, "the matching instance")
    require_keys(top, "the matching instance", ("applicants", "slots"))
    raw_applicants = require_object(top["applicants"], '"applicants"')
    raw_slots = require_object(top["slots"], '"slots"')

    if _all_id_lists(raw_applicants.values()):
        applicants = dict(zip(raw_applicants, map(tuple, raw_applicants.values()), strict=True))  # type: ignore[arg-type]
    else:
        applicants = {
            applicant: _id_list(prefs, lambda: f"applicant {quote(applicant)}: preferences", "slot")  # noqa: B023
            for applicant, prefs in raw_applicants.items()
        }
    slots: dict[SlotId, Slot] = {}
    for slot_id, raw in raw_slots.items():
        # Checked inline, the messages written only for a slot that fails (see _id_list).
        if type(raw) is not dict or raw.keys() != SLOT_KEYS or not _is_count(raw["capacity"]):
            where = f"slot {quote(slot_id)}"
            if not isinstance(raw, dict):
                raise InstanceError(f"{where} must be an object, got {type_name(raw)}")
            require_keys(raw, where, ("capacity", "ranking"))
            require_count(raw["capacity"], f"{where}: capacity")
        ranking = raw["ranking"]
        if type(ranking) is not list or not _all_id_lists((ranking,)):
            _id_list(ranking, lambda: f"slot {quote(slot_id)}: ranking", "applicant")  # noqa: B023  # raises
        slots[slot_id] = Slot(capacity=raw["capacity"], ranking=tuple(ranking))
    return MatchingInstance(applicants=applicants, slots=slots)


# ------------------------------------------------------------------------------ solving


def solve_matching(instance: MatchingInstance) -> MatchingResult:
    """The applicant-optimal stable matching, by applicant-proposing deferred acceptance.

    Plain Python, no numpy: a rank dictionary per slot (built at C speed from its ranking) and
    a heap of int keys per slot. A slot's rank of an applicant is looked up only when that
    applicant proposes, so an instance costs its proposals, not its acceptable pairs (100,000
    applicants x 5 of 5,000 slots: about 210,000 proposals for 500,000 listed pairs). Joining
    every pair up front in numpy, as this did before, cost more than the proposals, and the
    numpy import alone a tenth of ``match solve`` (measured; bench/README.md).
    """
    slot_ids = list(instance.slots)
    applicant_ids = list(instance.applicants)
    n = max(len(applicant_ids), 1)
    slot_index = {slot_id: i for i, slot_id in enumerate(slot_ids)}
    slots = [instance.slots[slot_id] for slot_id in slot_ids]
    capacity = [slot.capacity for slot in slots]
    ranks = [dict(zip(slot.ranking, range(len(slot.ranking)), strict=True)) for slot in slots]
    preferences = list(instance.applicants.values())
    # A proposal is one int, rank * n + applicant: ranks within a slot are distinct, so
    # comparing these keys compares ranks, and int heaps are much faster than tuple heaps.
    # holds[s] is a heap of -key: its root is the worst applicant s holds, exactly the one
    # to compare with (and evict for) a better proposer.
    holds: list[list[int]] = [[] for _ in slot_ids]
    next_option = [0] * len(applicant_ids)
    free = list(range(len(applicant_ids) - 1, -1, -1))  # a stack; order is irrelevant
    while free:
        applicant = free.pop()
        name, listed = applicant_ids[applicant], preferences[applicant]
        i, end = next_option[applicant], len(listed)
        while i < end:
            slot = slot_index[listed[i]]
            i += 1
            rank = ranks[slot].get(name)
            if rank is None or not capacity[slot]:  # not mutually acceptable
                continue
            key = rank * n + applicant
            held = holds[slot]
            if len(held) < capacity[slot]:
                heapq.heappush(held, -key)
                break
            if -held[0] > key:  # the slot prefers this applicant to its current worst
                free.append(-heapq.heapreplace(held, -key) % n)
                break
        next_option[applicant] = i
    return _result(instance, slot_ids, applicant_ids, holds)


def _result(
    instance: MatchingInstance,
    slot_ids: list[SlotId],
    applicant_ids: list[ApplicantId],
    holds: list[list[int]],
) -> MatchingResult:
    n = max(len(applicant_ids), 1)
    matching: dict[SlotId, list[ApplicantId]] = {}
    matched: set[ApplicantId] = set()
    for slot_id, held in zip(slot_ids, holds, strict=True):
        names = sorted([applicant_ids[-key % n] for key in held])
        matching[slot_id] = names
        matched.update(names)
    return MatchingResult(
        matching={s: matching[s] for s in sorted(matching)},
        unmatched=sorted(a for a in instance.applicants if a not in matched),
    )


def solve_matching_json(text: str) -> dict[str, object]:
    """Parse, validate and solve a JSON instance; raises InstanceError for any bad input."""
    with garbage_collection_paused():
        return solve_matching(parse_matching_instance(parse_json(text))).to_dict()


# ---------------------------------------------------------------------------- stability


def blocking_pairs(
    instance: MatchingInstance,
    matching: Mapping[SlotId, Iterable[ApplicantId]] | MatchingResult,
) -> list[tuple[ApplicantId, SlotId]]:
    """Pairs (applicant, slot) that would both rather be together than keep ``matching``.

    ``matching`` maps slot ids to the applicants they hold (slots left out hold nobody),
    e.g. a solver result after a manager's manual edits. It need not be valid: a held
    applicant the slot did not rank counts as worse than every ranked one, and a slot the
    applicant did not list counts as worse than every listed one. Pairs are sorted.
    Raises InstanceError for unknown ids or an applicant placed in two slots.
    """
    if isinstance(matching, MatchingResult):
        matching = matching.matching
    current = _current_slots(instance, matching)
    holding: dict[SlotId, list[ApplicantId]] = {slot_id: [] for slot_id in instance.slots}
    for applicant, slot_id in current.items():
        holding[slot_id].append(applicant)
    worst: dict[SlotId, int] = {}  # slot -> rank of its worst holding; absent = has room
    rank_at: dict[SlotId, dict[ApplicantId, int]] = {}
    for slot_id, slot in instance.slots.items():
        ranks = {a: r for r, a in enumerate(slot.ranking)}
        rank_at[slot_id] = ranks
        held = holding[slot_id]
        if len(held) >= slot.capacity:
            unranked = len(slot.ranking)  # worse than anyone the slot ranked
            worst[slot_id] = max((ranks.get(a, unranked) for a in held), default=-1)

    pairs: list[tuple[ApplicantId, SlotId]] = []
    for applicant, prefs in instance.applicants.items():
        mine = current.get(applicant)
        for slot_id in prefs:  # only slots the applicant prefers to where they are
            if slot_id == mine:
                break
            rank = rank_at[slot_id].get(applicant)
            if rank is not None and rank < worst.get(slot_id, len(rank_at[slot_id]) + 1):
                pairs.append((applicant, slot_id))
    return sorted(pairs)


def _current_slots(
    instance: MatchingInstance, matching: Mapping[SlotId, Iterable[ApplicantId]]
) -> dict[ApplicantId, SlotId]:
    current: dict[ApplicantId, SlotId] = {}
    for slot_id, held in matching.items():
        if slot_id not in instance.slots:
            raise InstanceError(f"the matching names unknown slot {quote(slot_id)}")
        for applicant in held:
            if applicant not in instance.applicants:
                raise InstanceError(f"slot {quote(slot_id)} holds unknown applicant {quote(applicant)}")
            if applicant in current:
                raise InstanceError(
                    f"applicant {quote(applicant)} is placed in both slot "
                    f"{quote(current[applicant])} and slot {quote(slot_id)}"
                )
            current[applicant] = slot_id
    return current
