"""Tests for incubator.domain.matching: contract, stability, oracle agreement, bad input."""

from __future__ import annotations

import json
import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from matching.games import HospitalResident

from incubator.domain.errors import InstanceError
from incubator.domain.matching import (
    MatchingInstance,
    MatchingResult,
    Slot,
    blocking_pairs,
    parse_matching_instance,
    solve_matching,
    solve_matching_json,
)
from tests.unit.instance_edits import DELETE, edited

DESIGN_INPUT = {
    "applicants": {"a1": ["s1", "s2"], "a2": ["s1"]},
    "slots": {"s1": {"capacity": 1, "ranking": ["a2", "a1"]}, "s2": {"capacity": 2, "ranking": ["a1"]}},
}
DESIGN_OUTPUT = {"matching": {"s1": ["a2"], "s2": ["a1"]}, "unmatched": []}


def instance(applicants: dict[str, list[str]], slots: dict[str, tuple[int, list[str]]]) -> MatchingInstance:
    return MatchingInstance(
        applicants={a: tuple(p) for a, p in applicants.items()},
        slots={s: Slot(capacity=c, ranking=tuple(r)) for s, (c, r) in slots.items()},
    )


# ----------------------------------------------------------------------------- contract


def test_solve_matching_json_design_example_reproduced_exactly():
    assert solve_matching_json(json.dumps(DESIGN_INPUT)) == DESIGN_OUTPUT


def test_solve_matching_json_design_example_serialises_exactly():
    result = solve_matching_json(json.dumps(DESIGN_INPUT))
    assert json.dumps(result) == json.dumps(DESIGN_OUTPUT)


def test_solve_matching_typed_pieces_agree_with_json_path():
    result = solve_matching(parse_matching_instance(DESIGN_INPUT))
    assert isinstance(result, MatchingResult)
    assert result.to_dict() == DESIGN_OUTPUT


def test_solve_matching_two_stable_matchings_gives_applicant_optimal():
    # Both {a1-s1, a2-s2} and {a1-s2, a2-s1} are stable; applicants get their first choices.
    inst = instance(
        {"a1": ["s1", "s2"], "a2": ["s2", "s1"]},
        {"s1": (1, ["a2", "a1"]), "s2": (1, ["a1", "a2"])},
    )
    assert solve_matching(inst).to_dict() == {"matching": {"s1": ["a1"], "s2": ["a2"]}, "unmatched": []}


def test_solve_matching_rejection_chain_moves_applicants_down_their_lists():
    inst = instance(
        {"a1": ["s1", "s2"], "a2": ["s1", "s2"], "a3": ["s1", "s2"]},
        {"s1": (1, ["a3", "a2", "a1"]), "s2": (1, ["a1", "a2", "a3"])},
    )
    assert solve_matching(inst).to_dict() == {"matching": {"s1": ["a3"], "s2": ["a1"]}, "unmatched": ["a2"]}


def test_solve_matching_applicant_unranked_by_slot_is_unacceptable():
    inst = instance({"a1": ["s1"], "a2": ["s1"]}, {"s1": (2, ["a2"])})
    assert solve_matching(inst).to_dict() == {"matching": {"s1": ["a2"]}, "unmatched": ["a1"]}


def test_solve_matching_slot_not_listed_by_applicant_is_unacceptable():
    inst = instance({"a1": ["s2"], "a2": []}, {"s1": (2, ["a1", "a2"]), "s2": (1, [])})
    assert solve_matching(inst).to_dict() == {"matching": {"s1": [], "s2": []}, "unmatched": ["a1", "a2"]}


def test_solve_matching_zero_capacity_slot_listed_with_nobody():
    inst = instance({"a1": ["s1", "s2"]}, {"s1": (0, ["a1"]), "s2": (1, ["a1"])})
    assert solve_matching(inst).to_dict() == {"matching": {"s1": [], "s2": ["a1"]}, "unmatched": []}


def test_solve_matching_output_sorted_by_id():
    inst = instance(
        {"b": ["t2", "t1"], "c": ["t2"], "a": ["t2"], "d": ["t1"]},
        {"t2": (3, ["c", "b", "a"]), "t1": (1, ["b", "d"])},
    )
    result = solve_matching(inst).to_dict()
    assert json.dumps(result) == json.dumps(
        {"matching": {"t1": ["d"], "t2": ["a", "b", "c"]}, "unmatched": []}
    )


def test_solve_matching_empty_instance():
    assert solve_matching_json('{"applicants": {}, "slots": {}}') == {"matching": {}, "unmatched": []}


# --------------------------------------------------- properties and the `matching` oracle


@st.composite
def matching_instances(draw: st.DrawFn) -> MatchingInstance:
    """Small random instances: sizes come from hypothesis (so failures shrink to small
    sizes), the contents from a seeded generator (a few draws per example instead of
    dozens, which is what makes thousands of examples affordable)."""
    n_applicants, n_slots = draw(st.integers(0, 9)), draw(st.integers(0, 5))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    applicant_ids = [f"a{i}" for i in range(n_applicants)]
    slot_ids = [f"s{j}" for j in range(n_slots)]
    applicants = {a: tuple(rng.sample(slot_ids, rng.randint(0, n_slots))) for a in applicant_ids}
    slots = {}
    for s in slot_ids:
        # Usually rank whoever listed the slot, sometimes drop one or add one who did not.
        ranking = [
            a for a in applicant_ids if (rng.random() < 0.8) == (s in applicants[a]) or rng.random() < 0.1
        ]
        rng.shuffle(ranking)
        slots[s] = Slot(capacity=rng.randint(0, 3), ranking=tuple(ranking))
    return MatchingInstance(applicants=applicants, slots=slots)


def oracle(inst: MatchingInstance) -> dict[str, list[str]]:
    """Applicant-optimal matching from the `matching` package, on a cleaned copy.

    The package assumes every listed pair is mutually acceptable, every list non-empty and
    every capacity positive (it crashes or warns otherwise), so keep only mutually
    acceptable pairs with capacity and drop whoever is left with nobody; warnings are
    turned into errors to prove the cleaned game is one it accepts as valid.
    """

    def acceptable(a: str, s: str) -> bool:
        return inst.slots[s].capacity > 0 and a in inst.slots[s].ranking and s in inst.applicants[a]

    resident_prefs = {a: [s for s in prefs if acceptable(a, s)] for a, prefs in inst.applicants.items()}
    resident_prefs = {a: p for a, p in resident_prefs.items() if p}
    hospital_prefs = {s: [a for a in slot.ranking if acceptable(a, s)] for s, slot in inst.slots.items()}
    hospital_prefs = {s: p for s, p in hospital_prefs.items() if p}
    result: dict[str, list[str]] = {s: [] for s in inst.slots}
    if not resident_prefs:
        return result
    capacities = {s: inst.slots[s].capacity for s in hospital_prefs}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
        solved = game.solve(optimal="resident")
    for hospital, residents in solved.items():
        result[hospital.name] = sorted(r.name for r in residents)
    return result


def naive_blocking_pairs(inst: MatchingInstance, matching: dict[str, list[str]]) -> list[tuple[str, str]]:
    """Straight from the definition, over every (applicant, slot) pair."""
    current = {a: s for s, held in matching.items() for a in held}
    pairs = []
    for a, prefs in inst.applicants.items():
        for s, slot in inst.slots.items():
            if s not in prefs or a not in slot.ranking or current.get(a) == s:
                continue
            mine = current.get(a)
            applicant_wants = mine not in prefs or prefs.index(s) < prefs.index(mine)
            held = matching.get(s, [])

            def rank(x: str, slot: Slot = slot) -> int:
                return slot.ranking.index(x) if x in slot.ranking else len(slot.ranking)

            slot_wants = len(held) < slot.capacity or any(rank(a) < rank(h) for h in held)
            if applicant_wants and slot_wants:
                pairs.append((a, s))
    return sorted(pairs)


# database=None: no .hypothesis example store written into the shared checkout.
@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(matching_instances())
def test_solve_matching_random_instance_stable_valid_and_equal_to_oracle(inst):
    result = solve_matching(inst)
    assert list(result.matching) == sorted(inst.slots)
    assert result.unmatched == sorted(result.unmatched)
    placed = [a for held in result.matching.values() for a in held]
    assert len(placed) == len(set(placed))
    assert sorted(placed + result.unmatched) == sorted(inst.applicants)
    for s, held in result.matching.items():
        assert held == sorted(held)
        assert len(held) <= inst.slots[s].capacity
        for a in held:
            assert a in inst.slots[s].ranking and s in inst.applicants[a]
    assert naive_blocking_pairs(inst, result.matching) == []
    assert blocking_pairs(inst, result) == []
    assert result.matching == oracle(inst)


@settings(max_examples=1000, deadline=None, database=None)
@given(st.data())
def test_blocking_pairs_arbitrary_matching_equals_definition(data):
    inst = data.draw(matching_instances())
    slot_ids = list(inst.slots)
    matching: dict[str, list[str]] = {s: [] for s in slot_ids if data.draw(st.booleans())}
    if matching:
        # Any placement at all, ignoring preferences and capacities, like a careless edit.
        for a in inst.applicants:
            choice = data.draw(st.sampled_from([None, *matching]))
            if choice is not None:
                matching[choice].append(a)
    assert blocking_pairs(inst, matching) == naive_blocking_pairs(inst, matching)


def test_blocking_pairs_after_manual_swap_names_the_pairs():
    inst = parse_matching_instance(DESIGN_INPUT)
    # The manager moves a2 out of s1 and puts a1 there instead; a2 is left unmatched.
    assert blocking_pairs(inst, {"s1": ["a1"], "s2": []}) == [("a2", "s1")]
    # Leaving s2 empty while a1 sits unmatched: both a1's slots would take it.
    assert blocking_pairs(inst, {"s1": ["a2"]}) == [("a1", "s2")]


def test_blocking_pairs_slot_holding_unranked_applicant_prefers_ranked_one():
    inst = instance({"a1": ["s1"], "a2": ["s1"]}, {"s1": (1, ["a1"])})
    assert blocking_pairs(inst, {"s1": ["a2"]}) == [("a1", "s1")]


@pytest.mark.parametrize(
    ("matching", "message"),
    [
        ({"s9": []}, 'the matching names unknown slot "s9"'),
        ({"s1": ["a9"]}, 'slot "s1" holds unknown applicant "a9"'),
        ({"s1": ["a1"], "s2": ["a1"]}, 'applicant "a1" is placed in both slot "s1" and slot "s2"'),
    ],
)
def test_blocking_pairs_bad_matching_raises_instance_error(matching, message):
    with pytest.raises(InstanceError) as caught:
        blocking_pairs(parse_matching_instance(DESIGN_INPUT), matching)
    assert str(caught.value) == message


# ------------------------------------------------------------------------------ bad input


def changed(**changes: object) -> dict:
    return edited(DESIGN_INPUT, **changes)

BAD_TEXT = [
    ('{"applicants": {}\n\n  "slots": {}}', "malformed JSON: Expecting ',' delimiter at line 3 column 3"),
    ("{", "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
    ('{"applicants": {"a1": [], "a1": []}, "slots": {}}', 'duplicate key "a1" in a JSON object'),
    ("[" * 100_000, "malformed JSON: nested too deeply"),
]


@pytest.mark.parametrize(("text", "message"), BAD_TEXT)
def test_solve_matching_json_bad_text_raises_instance_error(text, message):
    with pytest.raises(InstanceError) as caught:
        solve_matching_json(text)
    assert str(caught.value) == message


BAD_DATA = [
    ("applicants", "the matching instance must be an object, got string"),
    (changed(slots=DELETE), 'the matching instance is missing "slots"'),
    (changed(applicants=DELETE), 'the matching instance is missing "applicants"'),
    (changed(extra=1), 'the matching instance has unknown key "extra" (expected "applicants", "slots")'),
    (changed(applicants=[["s1"]]), '"applicants" must be an object, got array'),
    (changed(slots=None), '"slots" must be an object, got null'),
    (changed(applicants__a1="s1"), 'applicant "a1": preferences must be an array, got string'),
    (
        changed(applicants__a1=["s1", 2]),
        'applicant "a1": preferences must contain slot ids (strings), got 2',
    ),
    (changed(applicants__a3=["s9"]), 'applicant "a3" ranks unknown slot "s9"'),
    (changed(applicants__a1=["s1", "s2", "s1"]), 'applicant "a1" ranks slot "s1" more than once'),
    (changed(slots__s1=["a1"]), 'slot "s1" must be an object, got array'),
    (changed(slots__s1={"capacity": 1}), 'slot "s1" is missing "ranking"'),
    (changed(slots__s1={"ranking": []}), 'slot "s1" is missing "capacity"'),
    (
        changed(slots__s1__size=1),
        'slot "s1" has unknown key "size" (expected "capacity", "ranking")',
    ),
    (changed(slots__s1__capacity=-1), 'slot "s1": capacity must be a non-negative integer, got -1'),
    (changed(slots__s1__capacity=1.5), 'slot "s1": capacity must be a non-negative integer, got 1.5'),
    (changed(slots__s1__capacity="2"), 'slot "s1": capacity must be a non-negative integer, got "2"'),
    (changed(slots__s1__capacity=False), 'slot "s1": capacity must be a non-negative integer, got false'),
    (changed(slots__s1__ranking={"a1": 1}), 'slot "s1": ranking must be an array, got object'),
    (
        changed(slots__s1__ranking=["a2", None]),
        'slot "s1": ranking must contain applicant ids (strings), got null',
    ),
    (changed(slots__s2__ranking=["a1", "a9"]), 'slot "s2" ranks unknown applicant "a9"'),
    (changed(slots__s1__ranking=["a2", "a1", "a2"]), 'slot "s1" ranks applicant "a2" more than once'),
]


@pytest.mark.parametrize(("data", "message"), BAD_DATA)
def test_parse_matching_instance_bad_data_raises_instance_error(data, message):
    with pytest.raises(InstanceError) as caught:
        solve_matching_json(json.dumps(data))
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("applicants", "slots", "message"),
    [
        ({"a1": ("s9",)}, {}, 'applicant "a1" ranks unknown slot "s9"'),
        (
            {},
            {"s1": Slot(capacity=-2, ranking=())},
            'slot "s1": capacity must be a non-negative integer, got -2',
        ),
        ({}, {"s1": Slot(capacity=1, ranking=("a1",))}, 'slot "s1" ranks unknown applicant "a1"'),
    ],
)
def test_matching_instance_built_directly_is_validated(applicants, slots, message):
    with pytest.raises(InstanceError) as caught:
        MatchingInstance(applicants=applicants, slots=slots)
    assert str(caught.value) == message
