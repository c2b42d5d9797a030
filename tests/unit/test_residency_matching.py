"""Building the matching instance from applications and slots: who may go where, in what order,
with how many places, and why someone got none."""

from __future__ import annotations

import datetime as dt

import pytest

from incubator.domain import residency_matching as rm
from incubator.domain.residency_matching import Candidate, SlotSpec

JAN = dt.date(2027, 1, 1)
OCC, BVH = 1, 2


def cand(id: str, *programmes: int, space: str | None = "office_desk", start: dt.date = JAN, months: int = 6,
         rank: int | None = None, submitted: dt.datetime | None = None) -> Candidate:
    return Candidate(id=id, programme_ids=programmes or (OCC,), space_type=space, desired_start=start,
                     length_months=months, rank=rank, submitted_at=submitted)


def slot(id: str, programme: int = OCC, space: str = "office_desk", capacity: int = 1,
         starts: dt.date = JAN, ends: dt.date = dt.date(2028, 1, 1), occupied: dict | None = None) -> SlotSpec:
    return SlotSpec(id=id, programme_id=programme, space_type=space, capacity=capacity, starts_on=starts,
                    ends_on=ends, occupied=occupied or {})


def test_months_helpers() -> None:
    assert rm.add_months(dt.date(2027, 11, 1), 3) == dt.date(2028, 2, 1)
    assert rm.months_in(dt.date(2027, 1, 15), dt.date(2027, 3, 1)) == [dt.date(2027, 1, 1), dt.date(2027, 2, 1)]
    assert rm.slot_months(dt.date(2027, 1, 15), dt.date(2027, 6, 1)) == (dt.date(2027, 2, 1), dt.date(2027, 6, 1))
    counts = rm.monthly_occupancy([(JAN, dt.date(2027, 3, 1)), (dt.date(2027, 2, 1), dt.date(2027, 2, 10))],
                                  [JAN, dt.date(2027, 2, 1), dt.date(2027, 3, 1)])
    assert list(counts.values()) == [1, 2, 0]


def test_applicants_rank_slots_by_programme_then_exact_space_type() -> None:
    built = rm.build_instance(
        [cand("a", BVH, OCC, space="office_desk")],
        [slot("occ-desk"), slot("occ-combined", space="office_lab"), slot("bvh-combined", BVH, "office_lab"),
         slot("bvh-desk", BVH), slot("occ-lab", space="lab_bench")],
    )
    assert built.instance.applicants["a"] == ("bvh-desk", "bvh-combined", "occ-desk", "occ-combined")


def test_office_lab_need_is_met_only_by_office_lab() -> None:
    built = rm.build_instance([cand("a", space="office_lab")], [slot("desk"), slot("lab", space="lab_bench")])
    assert built.no_option == {"a": rm.NO_SPACE_TYPE}


def test_stay_must_fit_inside_the_slot_period() -> None:
    slots = [slot("short", ends=dt.date(2027, 6, 1)), slot("later", starts=dt.date(2027, 2, 1))]
    assert rm.build_instance([cand("a", months=6)], slots).no_option == {"a": rm.NO_WINDOW}
    assert rm.build_instance([cand("a", months=5)], slots).instance.applicants["a"] == ("short",)


def test_missing_period_and_programme_are_reasons() -> None:
    built = rm.build_instance([cand("a", months=0), cand("b", BVH)], [slot("s")])
    assert built.no_option == {"a": rm.NO_PERIOD, "b": rm.NO_PROGRAMME_SLOT}


def test_full_slot_in_the_window_means_no_capacity_but_free_later_is_fine() -> None:
    busy = {rm.add_months(JAN, n): 1 for n in range(6)}  # Jan-Jun taken
    built = rm.build_instance([cand("a"), cand("b", start=dt.date(2027, 7, 1))], [slot("s", occupied=busy)])
    assert built.no_option == {"a": rm.NO_CAPACITY}
    assert built.instance.applicants["b"] == ("s",)
    assert built.instance.slots["s"].capacity == 1  # b's window (Jul-Dec) is free


def test_slots_rank_by_call_ranking_then_submission_time_then_unranked() -> None:
    early, late = dt.datetime(2026, 9, 1, tzinfo=dt.UTC), dt.datetime(2026, 9, 2, tzinfo=dt.UTC)
    built = rm.build_instance(
        [cand("u", submitted=early), cand("r2", rank=2, submitted=early), cand("r1late", rank=1, submitted=late),
         cand("r1early", rank=1, submitted=early)],
        [slot("s", capacity=2)],
    )
    assert built.instance.slots["s"].ranking == ("r1early", "r1late", "r2", "u")
    outcome = rm.solve(built)
    assert outcome.placements == {"r1early": "s", "r1late": "s"}
    assert outcome.unmatched == {"r2": rm.OUTRANKED, "u": rm.OUTRANKED}


def test_capacity_is_reduced_by_the_busiest_month_in_listed_windows() -> None:
    built = rm.build_instance([cand("a"), cand("b")], [slot("s", capacity=3, occupied={dt.date(2027, 3, 1): 2})])
    assert built.instance.slots["s"].capacity == 1


def test_applicant_optimal_across_programmes() -> None:
    built = rm.build_instance(
        [cand("a", OCC, BVH, rank=2), cand("b", BVH, OCC, rank=1)],
        [slot("occ"), slot("bvh", BVH)],
    )
    assert rm.solve(built).placements == {"a": "occ", "b": "bvh"}


def test_adjustment_check_names_blocking_pair_and_capacity() -> None:
    built = rm.build_instance([cand("a", rank=1), cand("b", rank=2)], [slot("s"), slot("t", space="office_lab")])
    check = rm.check_placements(built, {"b": "s"})
    # a is left out while s holds someone it ranks lower and t has a free place.
    assert check.blocking == [("a", "s"), ("a", "t")] and not check.refused
    assert check.not_acceptable == []
    over = rm.check_placements(built, {"a": "s", "b": "s"})
    assert over.refused and over.over_capacity[0].slot == "s" and over.over_capacity[0].wanted == 2
    # Stays one after the other share a place.
    built = rm.build_instance([cand("a", months=3), cand("b", start=dt.date(2027, 4, 1), months=3)], [slot("s")])
    assert rm.check_placements(built, {"a": "s", "b": "s"}).over_capacity == []


def test_adjustment_outside_period_is_refused_and_unknown_ids_raise() -> None:
    built = rm.build_instance([cand("a", months=24)], [slot("s")])
    assert rm.check_placements(built, {"a": "s"}).outside_period == [("a", "s")]
    with pytest.raises(ValueError, match="unknown id"):
        rm.check_placements(built, {"a": "nope"})


def test_any_space_will_do_lists_slots_of_every_type_by_start_then_id() -> None:
    later_lab = slot("1", space="office_lab", starts=dt.date(2026, 12, 1))
    earlier_desk = slot("2", space="office_desk", starts=dt.date(2026, 11, 1))
    bench = slot("10", space="lab_bench", starts=dt.date(2026, 12, 1))
    other_programme = slot("3", programme=BVH, starts=dt.date(2026, 1, 1))
    built = rm.build_instance([cand("a", OCC, BVH, space=None)], [later_lab, earlier_desk, bench, other_programme])
    # Earlier start first; equal starts by id as text ("1" < "10"); the second programme after all of the first.
    assert built.instance.applicants["a"] == ("2", "1", "10", "3")


def test_each_slot_ranks_only_the_candidates_that_listed_it() -> None:
    desk, lab = slot("d", capacity=2), slot("l", space="lab_bench", capacity=2)
    built = rm.build_instance([cand("x", rank=2), cand("y", rank=1), cand("z", space="lab_bench")], [desk, lab])
    assert built.instance.slots["d"].ranking == ("y", "x")
    assert built.instance.slots["l"].ranking == ("z",)


# ------------------------------------------------ the one-pass match against deferred acceptance


def _random_instance(seed: int, n_candidates: int = 300, n_slots: int = 40) -> tuple[list[Candidate], list[SlotSpec]]:
    """Programmes, space needs (or none), periods (or none), ranks with gaps, ties and holes,
    and slots with places already taken in some months: every branch of the lists and capacity."""
    import random

    rng = random.Random(seed)
    spaces = ["office_desk", "lab_bench", "office_lab"]
    candidates = [
        Candidate(id=f"c{i:03d}", programme_ids=tuple(rng.sample([OCC, BVH, 3], rng.randint(1, 3))),
                  space_type=rng.choice([*spaces, None]), desired_start=dt.date(2027, rng.randint(1, 12), 1),
                  length_months=rng.choice([0, 3, 6, 12, 24]), rank=rng.choice([None, rng.randint(1, 60)]),
                  submitted_at=dt.datetime(2026, 9, 1, tzinfo=dt.UTC) + dt.timedelta(hours=rng.randint(0, 50)))
        for i in range(n_candidates)]
    slots = []
    for s in range(n_slots):
        starts = dt.date(2027, rng.randint(1, 6), rng.choice([1, 15]))
        occupied = {dt.date(2027, month, 1): rng.randint(1, 3) for month in rng.sample(range(1, 13), 3)
                    } if rng.random() < 0.4 else {}
        slots.append(SlotSpec(id=f"s{s:02d}", programme_id=rng.choice([OCC, BVH]), space_type=rng.choice(spaces),
                              capacity=rng.randint(1, 4), starts_on=starts,
                              ends_on=rm.add_months(starts, rng.choice([12, 24, 36])), occupied=occupied))
    return candidates, slots


def _reference_outcome(candidates: list[Candidate], slots: list[SlotSpec]) -> rm.MatchOutcome:
    """The match as it was computed before the one-pass version: every candidate's list ranked
    on its own, every slot sorting its listers, generic deferred acceptance on the instance."""
    from incubator.domain.matching import MatchingInstance, solve_matching
    from incubator.domain.matching import Slot as MatchingSlot

    index = rm._SlotIndex(slots)
    lists, reasons, periods = {}, {}, {}
    for candidate in candidates:
        if candidate.period is not None:
            periods[candidate.id] = candidate.period
        lists[candidate.id], reason = rm._rank_slots(candidate, candidate.period, index)
        if reason is not None:
            reasons[candidate.id] = reason
    by_id = {candidate.id: candidate for candidate in candidates}
    matching_slots = {}
    for spec in slots:
        listing = sorted((c for c in lists if spec.id in lists[c]), key=lambda c: rm.applicant_order_key(by_id[c]))
        months = {month for c in listing for month in rm.months_in(*periods[c])}
        busiest = max((spec.occupied.get(month, 0) for month in months), default=0)
        matching_slots[spec.id] = MatchingSlot(capacity=max(spec.capacity - busiest, 0), ranking=tuple(listing))
    result = solve_matching(MatchingInstance(applicants=lists, slots=matching_slots))
    placements = {c: s for s, held in result.matching.items() for c in held}
    return rm.MatchOutcome(placements=placements,
                           unmatched={c: reasons.get(c, rm.OUTRANKED) for c in sorted(lists) if c not in placements})


@pytest.mark.parametrize("seed", range(12))
def test_the_one_pass_match_equals_deferred_acceptance_on_the_instance(seed: int) -> None:
    candidates, slots = _random_instance(seed)
    expected = _reference_outcome(candidates, slots)
    assert len(expected.placements) > 20 and rm.OUTRANKED in expected.unmatched.values()  # a real contest
    assert rm.match(candidates, slots) == expected
    assert rm.solve(rm.build_instance(candidates, slots)) == expected


def test_the_one_pass_match_gives_the_better_ranked_the_contested_place() -> None:
    candidates = [cand("late", rank=2), cand("early", rank=1), cand("unranked"), cand("blocked", months=0)]
    outcome = rm.match(candidates, [slot("s"), slot("full", occupied={JAN: 1})])
    assert outcome.placements == {"early": "s"}
    assert outcome.unmatched == {"blocked": rm.NO_PERIOD, "late": rm.OUTRANKED, "unranked": rm.OUTRANKED}
