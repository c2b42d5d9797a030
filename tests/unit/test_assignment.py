"""Tests for incubator.domain.assignment: contract, optimality against an LP, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, vstack

from incubator.domain.assignment import (
    AssignmentInstance,
    AssignmentResult,
    parse_assignment_instance,
    solve_assignment,
    solve_assignment_json,
)
from incubator.domain.errors import InstanceError
from tests.unit.instance_edits import DELETE, edited

DESIGN_INPUT = {
    "reviewers": {"r1": {"max_load": 1}, "r2": {"max_load": 2, "min_load": 1}, "r3": {"max_load": 1}},
    "applications": {"x1": {"reviewers": 2}, "x2": {"reviewers": 1}},
    "affinity": {"r1": {"x1": 0.8, "x2": 0.9}, "r2": {"x1": 0.3, "x2": 0.95}, "r3": {"x1": 0.5}},
    "conflicts": [["r2", "x2"]],
}
DESIGN_OUTPUT = {"assignments": {"x1": ["r2", "r3"], "x2": ["r1"]}, "total_affinity": 1.7, "unfilled": {}}


def instance_data(
    reviewers: dict[str, int | tuple[int, int]],
    applications: dict[str, int],
    affinity: dict[str, dict[str, float]] | None = None,
    conflicts: list[list[str]] | None = None,
) -> dict:
    """Compact builder: a reviewer is max_load or (max_load, min_load)."""
    data: dict = {
        "reviewers": {
            r: {"max_load": v} if isinstance(v, int) else {"max_load": v[0], "min_load": v[1]}
            for r, v in reviewers.items()
        },
        "applications": {x: {"reviewers": d} for x, d in applications.items()},
        "affinity": affinity or {},
    }
    if conflicts is not None:
        data["conflicts"] = conflicts
    return data


def solve(data: dict) -> dict:
    return solve_assignment_json(json.dumps(data))


# ----------------------------------------------------------------------------- contract


def test_solve_assignment_json_design_example_reproduced_exactly():
    assert solve(DESIGN_INPUT) == DESIGN_OUTPUT


def test_solve_assignment_json_design_example_serialises_exactly():
    assert json.dumps(solve(DESIGN_INPUT), sort_keys=True) == json.dumps(DESIGN_OUTPUT, sort_keys=True)


def test_solve_assignment_typed_pieces_agree_with_json_path():
    result = solve_assignment(parse_assignment_instance(DESIGN_INPUT))
    assert isinstance(result, AssignmentResult)
    assert result.underloaded == {}
    assert result.to_dict() == DESIGN_OUTPUT


def test_solve_assignment_missing_affinity_counts_as_zero():
    data = instance_data({"r1": 1}, {"x1": 1})
    assert solve(data) == {"assignments": {"x1": ["r1"]}, "total_affinity": 0.0, "unfilled": {}}


def test_solve_assignment_demand_beats_affinity():
    # Greedy would give r1 its favourite x1 and leave x2 empty; filling both comes first.
    data = instance_data(
        {"r1": 1, "r2": 1},
        {"x1": 1, "x2": 1},
        {"r1": {"x1": 0.9, "x2": 0.1}},
        [["r2", "x2"]],
    )
    assert solve(data) == {"assignments": {"x1": ["r2"], "x2": ["r1"]}, "total_affinity": 0.1, "unfilled": {}}


def test_solve_assignment_negative_affinity_still_fills_demand():
    data = instance_data({"r1": 1}, {"x1": 1}, {"r1": {"x1": -0.5}})
    assert solve(data) == {"assignments": {"x1": ["r1"]}, "total_affinity": -0.5, "unfilled": {}}


def test_solve_assignment_min_load_beats_affinity():
    data = instance_data({"r1": (1, 1), "r2": 1}, {"x1": 1}, {"r1": {"x1": 0.1}, "r2": {"x1": 0.9}})
    assert solve(data) == {"assignments": {"x1": ["r1"]}, "total_affinity": 0.1, "unfilled": {}}


def test_solve_assignment_min_load_never_exceeds_demand():
    # r1 wants 3 reviews but only 2 places exist: demand is an upper bound, so r1 is short.
    data = instance_data({"r1": (3, 3)}, {"x1": 1, "x2": 1})
    assert solve(data) == {
        "assignments": {"x1": ["r1"], "x2": ["r1"]},
        "total_affinity": 0.0,
        "unfilled": {},
        "underloaded": {"r1": 1},
    }


def test_solve_assignment_unmeetable_min_load_reported_as_underloaded():
    data = instance_data({"r1": (2, 2), "r2": 2}, {"x1": 1, "x2": 1}, conflicts=[["r1", "x2"]])
    assert solve(data) == {
        "assignments": {"x1": ["r1"], "x2": ["r2"]},
        "total_affinity": 0.0,
        "unfilled": {},
        "underloaded": {"r1": 1},
    }


def test_solve_assignment_competing_min_loads_share_scarce_places():
    # Two places, two reviewers each wanting one: both minimums are met, whatever affinity says.
    data = instance_data({"r1": (2, 1), "r2": (2, 1)}, {"x1": 1, "x2": 1}, {"r1": {"x1": 1.0, "x2": 1.0}})
    result = solve(data)
    assert sorted(r for rs in result["assignments"].values() for r in rs) == ["r1", "r2"]
    assert result["total_affinity"] == 1.0
    assert "underloaded" not in result


def test_solve_assignment_infeasible_demand_reported_in_unfilled():
    data = instance_data({"r1": 1, "r2": 5}, {"x1": 3, "x2": 1}, {"r2": {"x2": 0.4}})
    assert solve(data) == {
        "assignments": {"x1": ["r1", "r2"], "x2": ["r2"]},
        "total_affinity": 0.4,
        "unfilled": {"x1": 1},
    }


def test_solve_assignment_conflicts_are_never_assigned_even_when_that_leaves_gaps():
    data = instance_data({"r1": 3}, {"x1": 1, "x2": 1}, {"r1": {"x1": 5.0}}, [["r1", "x1"], ["r1", "x1"]])
    assert solve(data) == {
        "assignments": {"x1": [], "x2": ["r1"]},
        "total_affinity": 0.0,
        "unfilled": {"x1": 1},
    }


def test_solve_assignment_reviewer_assigned_at_most_once_per_application():
    data = instance_data({"r1": 5}, {"x1": 3})
    assert solve(data) == {"assignments": {"x1": ["r1"]}, "total_affinity": 0.0, "unfilled": {"x1": 2}}


def test_solve_assignment_every_application_listed_and_sorted_by_id():
    data = instance_data({"rb": 2, "ra": 2}, {"x2": 2, "x1": 0, "x3": 0})
    result = solve(data)
    assert list(result["assignments"]) == ["x1", "x2", "x3"]
    assert result["assignments"] == {"x1": [], "x2": ["ra", "rb"], "x3": []}


def test_solve_assignment_without_reviewers_reports_all_demand_unfilled():
    data = instance_data({}, {"x1": 2, "x2": 0})
    assert solve(data) == {"assignments": {"x1": [], "x2": []}, "total_affinity": 0.0, "unfilled": {"x1": 2}}


def test_solve_assignment_without_applications_reports_minimums_unmet():
    data = instance_data({"r1": (2, 1)}, {})
    assert solve(data) == {"assignments": {}, "total_affinity": 0.0, "unfilled": {}, "underloaded": {"r1": 1}}


def test_solve_assignment_total_affinity_rounded_to_six_decimals():
    data = instance_data(
        {"r1": 1, "r2": 1, "r3": 1}, {"x1": 3}, {"r1": {"x1": 0.1}, "r2": {"x1": 0.2}, "r3": {"x1": 1e-9}}
    )
    assert solve(data)["total_affinity"] == 0.3


def test_solve_assignment_prefers_higher_affinity_beyond_six_decimals():
    # Scaling keeps ~9 significant digits, so a 1e-8 difference still decides the choice.
    data = instance_data({"r1": 1, "r2": 1}, {"x1": 1}, {"r1": {"x1": 0.50000001}, "r2": {"x1": 0.5}})
    assert solve(data)["assignments"] == {"x1": ["r1"]}


def test_solve_assignment_large_affinities_scale_safely():
    data = instance_data(
        {"r1": 1, "r2": 1}, {"x1": 1, "x2": 1}, {"r1": {"x1": 1e12, "x2": 3e12}, "r2": {"x1": 2e12}}
    )
    assert solve(data) == {
        "assignments": {"x1": ["r2"], "x2": ["r1"]},
        "total_affinity": 5e12,
        "unfilled": {},
    }


def test_solve_assignment_array_entry_point_matches_json_path():
    rng = np.random.default_rng(5)
    n_r, n_a = 40, 300
    instance = AssignmentInstance(
        reviewer_ids=tuple(f"r{i}" for i in range(n_r)),
        application_ids=tuple(f"x{j}" for j in range(n_a)),
        max_load=rng.integers(0, 30, n_r),
        min_load=np.zeros(n_r, dtype=int),
        demand=rng.integers(0, 4, n_a),
        affinity=rng.random((n_r, n_a)),
        allowed=rng.random((n_r, n_a)) > 0.05,
    )
    data = instance_data(
        {r: int(m) for r, m in zip(instance.reviewer_ids, instance.max_load, strict=True)},
        {x: int(d) for x, d in zip(instance.application_ids, instance.demand, strict=True)},
        {
            r: {x: float(instance.affinity[i, j]) for j, x in enumerate(instance.application_ids)}
            for i, r in enumerate(instance.reviewer_ids)
        },
        [
            [r, x]
            for i, r in enumerate(instance.reviewer_ids)
            for j, x in enumerate(instance.application_ids)
            if not instance.allowed[i, j]
        ],
    )
    assert solve(data) == solve_assignment(instance).to_dict()


# ------------------------------------------------------- optimality against an LP oracle


def random_instance(rng: np.random.Generator) -> AssignmentInstance:
    n_r, n_a = int(rng.integers(0, 7)), int(rng.integers(0, 7))
    max_load = rng.integers(0, 5, n_r)
    min_load = np.where(rng.random(n_r) < 0.4, rng.integers(0, 5, n_r), 0)
    min_load = np.minimum(min_load, max_load)
    # Mix coarse values (many ties) with arbitrary floats, negatives and missing pairs.
    coarse = rng.integers(-2, 10, (n_r, n_a)) / 10
    fine = rng.normal(0.5, 0.5, (n_r, n_a))
    affinity = np.where(rng.random((n_r, n_a)) < 0.5, coarse, fine)
    affinity = np.where(rng.random((n_r, n_a)) < 0.2, 0.0, affinity)
    return AssignmentInstance(
        reviewer_ids=tuple(f"r{i}" for i in range(n_r)),
        application_ids=tuple(f"x{j}" for j in range(n_a)),
        max_load=max_load,
        min_load=min_load,
        demand=rng.integers(0, 5, n_a),
        affinity=affinity,
        allowed=rng.random((n_r, n_a)) > 0.25,
    )


def lexicographic_lp(instance: AssignmentInstance) -> tuple[float, float, float]:
    """(filled places, honoured minimum-load units, affinity) by three chained HiGHS LPs.

    Variables: y[p] for each allowed (reviewer, application) pair in [0, 1], and c[r] in
    [0, min_load[r]] with c[r] <= load[r], so sum(c) is the honoured minimum load. Each
    stage fixes the previous optimum as a constraint; the network polytope is integral and
    so are its optimal faces, so these equal the integer optima.
    """
    pair_r, pair_x = np.nonzero(instance.allowed)
    n_p, n_r, n_a = pair_r.size, len(instance.reviewer_ids), len(instance.application_ids)
    if n_p == 0:
        return 0.0, 0.0, 0.0
    cols = np.arange(n_p)
    ones = np.ones(n_p)
    per_application = coo_matrix((ones, (pair_x, cols)), shape=(n_a, n_p + n_r))
    per_reviewer = coo_matrix((ones, (pair_r, cols)), shape=(n_r, n_p + n_r))
    coverage = coo_matrix(
        (
            np.concatenate([-ones, np.ones(n_r)]),
            (np.concatenate([pair_r, np.arange(n_r)]), np.concatenate([cols, n_p + np.arange(n_r)])),
        ),
        shape=(n_r, n_p + n_r),
    )
    a_ub = vstack([per_application, per_reviewer, coverage]).tocsr()
    b_ub = np.concatenate([instance.demand, instance.max_load, np.zeros(n_r)]).astype(float)
    bounds = [(0, 1)] * n_p + [(0, int(m)) for m in instance.min_load]

    stages = [
        np.concatenate([ones, np.zeros(n_r)]),
        np.concatenate([np.zeros(n_p), np.ones(n_r)]),
        np.concatenate([instance.affinity[pair_r, pair_x], np.zeros(n_r)]),
    ]
    optima = []
    for objective in stages:
        res = linprog(-objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
        assert res.status == 0, res.message
        optimum = -res.fun
        optima.append(optimum)
        # Fix this level (integral for the first two) before optimising the next one.
        a_ub = vstack([a_ub, coo_matrix(-objective)]).tocsr()
        b_ub = np.append(b_ub, -(round(optimum) if len(optima) < 3 else optimum))
    return optima[0], optima[1], optima[2]


def check_feasible(instance: AssignmentInstance, result: AssignmentResult) -> tuple[int, int]:
    """Assert every hard rule and the reports; return (filled places, honoured minimums)."""
    r_index = {r: i for i, r in enumerate(instance.reviewer_ids)}
    assert list(result.assignments) == sorted(instance.application_ids)
    load = np.zeros(len(instance.reviewer_ids), dtype=int)
    total = []
    for j, x in enumerate(instance.application_ids):
        reviewers = result.assignments[x]
        assert reviewers == sorted(set(reviewers))  # sorted, each reviewer at most once
        assert len(reviewers) <= instance.demand[j]
        expected_unfilled = int(instance.demand[j]) - len(reviewers)
        assert result.unfilled.get(x, 0) == expected_unfilled
        assert x not in result.unfilled or expected_unfilled > 0
        for r in reviewers:
            i = r_index[r]
            assert instance.allowed[i, j], f"conflict {r}-{x} assigned"
            load[i] += 1
            total.append(float(instance.affinity[i, j]))
    assert (load <= instance.max_load).all()
    for i, r in enumerate(instance.reviewer_ids):
        short = int(instance.min_load[i] - load[i])
        assert result.underloaded.get(r, 0) == max(short, 0)
        assert r not in result.underloaded or short > 0
    assert result.total_affinity == round(math.fsum(total), 6)
    return int(load.sum()), int(np.minimum(load, instance.min_load).sum())


@pytest.mark.parametrize("seed", range(200))
def test_solve_assignment_random_instance_matches_lexicographic_lp(seed):
    instance = random_instance(np.random.default_rng(seed))
    result = solve_assignment(instance)
    filled, honoured = check_feasible(instance, result)
    lp_filled, lp_honoured, lp_affinity = lexicographic_lp(instance)
    assert filled == round(lp_filled)
    assert honoured == round(lp_honoured)
    assert abs(result.total_affinity - lp_affinity) <= 1e-6


# ------------------------------------------------------------------------------ bad input


def with_changes(**changes: object) -> dict:
    return edited(DESIGN_INPUT, **changes)

# A one-reviewer, one-application instance, cut off where x1's affinity value goes.
ONE_PAIR = '{"reviewers": {"r1": {"max_load": 1}}, "applications": {"x1": {"reviewers": 1}}, "affinity": {"r1": {"x1": '

BAD_JSON_TEXT = [
    ('{"reviewers": {}\n  "applications": {}}', "malformed JSON: Expecting ',' delimiter at line 2 column 3"),
    ("", "malformed JSON: Expecting value at line 1 column 1"),
    ('{"reviewers": {"r1": {"max_load": 1}, "r1": {"max_load": 2}}}', 'duplicate key "r1" in a JSON object'),
    (
        ONE_PAIR + "NaN}}}",
        'affinity of reviewer "r1" for application "x1" must be a finite number, got NaN',
    ),
    (
        ONE_PAIR + "-Infinity}}}",
        'affinity of reviewer "r1" for application "x1" must be a finite number, got -Infinity',
    ),
    (
        ONE_PAIR + "1" + "0" * 400 + "}}}",
        'affinity of reviewer "r1" for application "x1" must be a finite number, got 1' + "0" * 56 + "...",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_JSON_TEXT)
def test_solve_assignment_json_bad_text_raises_instance_error(text, message):
    with pytest.raises(InstanceError) as caught:
        solve_assignment_json(text)
    assert str(caught.value) == message


BAD_DATA = [
    ([1, 2], "the assignment instance must be an object, got array"),
    (with_changes(applications=DELETE), 'the assignment instance is missing "applications"'),
    (with_changes(affinity=DELETE), 'the assignment instance is missing "affinity"'),
    (
        with_changes(conflict=[]),
        'the assignment instance has unknown key "conflict" (expected "reviewers", "applications", "affinity", "conflicts")',
    ),
    (with_changes(reviewers=[]), '"reviewers" must be an object, got array'),
    (with_changes(applications="x1"), '"applications" must be an object, got string'),
    (with_changes(reviewers__r1=3), 'reviewer "r1" must be an object, got number'),
    (with_changes(reviewers__r1={}), 'reviewer "r1" is missing "max_load"'),
    (
        with_changes(reviewers__r1={"max_load": 1, "min": 1}),
        'reviewer "r1" has unknown key "min" (expected "max_load", "min_load")',
    ),
    (
        with_changes(reviewers__r1__max_load=-1),
        'reviewer "r1": max_load must be a non-negative integer, got -1',
    ),
    (
        with_changes(reviewers__r1__max_load=1.5),
        'reviewer "r1": max_load must be a non-negative integer, got 1.5',
    ),
    (
        with_changes(reviewers__r1__max_load=2.0),
        'reviewer "r1": max_load must be a non-negative integer, got 2.0',
    ),
    (
        with_changes(reviewers__r1__max_load=True),
        'reviewer "r1": max_load must be a non-negative integer, got true',
    ),
    (
        with_changes(reviewers__r1__max_load=None),
        'reviewer "r1": max_load must be a non-negative integer, got null',
    ),
    (
        with_changes(reviewers__r1__max_load=10**10),
        'reviewer "r1": max_load must be at most 1000000000, got 10000000000',
    ),
    (
        with_changes(reviewers__r2__min_load=-3),
        'reviewer "r2": min_load must be a non-negative integer, got -3',
    ),
    (with_changes(reviewers__r2__min_load=3), 'reviewer "r2": min_load 3 exceeds max_load 2'),
    (with_changes(applications__x1=2), 'application "x1" must be an object, got number'),
    (with_changes(applications__x1={}), 'application "x1" is missing "reviewers"'),
    (
        with_changes(applications__x1__reviewers=-2),
        'application "x1": reviewers must be a non-negative integer, got -2',
    ),
    (
        with_changes(applications__x1__reviewers="2"),
        'application "x1": reviewers must be a non-negative integer, got "2"',
    ),
    (with_changes(affinity=[]), '"affinity" must be an object, got array'),
    (with_changes(affinity__r9={"x1": 0.5}), '"affinity" names unknown reviewer "r9"'),
    (with_changes(affinity__r1=[0.8, 0.9]), 'affinity for reviewer "r1" must be an object, got array'),
    (with_changes(affinity__r1__x9=0.5), 'affinity for reviewer "r1" names unknown application "x9"'),
    (
        with_changes(affinity__r1__x1="high"),
        'affinity of reviewer "r1" for application "x1" must be a finite number, got "high"',
    ),
    (
        with_changes(affinity__r1__x1=True),
        'affinity of reviewer "r1" for application "x1" must be a finite number, got true',
    ),
    (
        with_changes(affinity__r1__x1=None),
        'affinity of reviewer "r1" for application "x1" must be a finite number, got null',
    ),
    (with_changes(conflicts={"r2": "x2"}), '"conflicts" must be an array, got object'),
    (
        with_changes(conflicts=[["r2", "x2"], ["r1"]]),
        'conflicts[1] must be a [reviewer, application] pair of ids, got ["r1"]',
    ),
    (
        with_changes(conflicts=[["r2", "x2", "x1"]]),
        'conflicts[0] must be a [reviewer, application] pair of ids, got ["r2", "x2", "x1"]',
    ),
    (
        with_changes(conflicts=["r2"]),
        'conflicts[0] must be a [reviewer, application] pair of ids, got "r2"',
    ),
    (with_changes(conflicts=[["r9", "x2"]]), 'conflicts[0] names unknown reviewer "r9"'),
    (with_changes(conflicts=[["r2", "x9"]]), 'conflicts[0] names unknown application "x9"'),
    (with_changes(conflicts=[["x2", "r2"]]), 'conflicts[0] names unknown reviewer "x2"'),
]


@pytest.mark.parametrize(("data", "message"), BAD_DATA)
def test_parse_assignment_instance_bad_data_raises_instance_error(data, message):
    with pytest.raises(InstanceError) as caught:
        solve_assignment_json(json.dumps(data))
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_parse_assignment_instance_bad_data_raises_value_error_subclass():
    with pytest.raises(ValueError, match="must be an object"):
        parse_assignment_instance("nope")


def test_solve_assignment_json_non_text_raises_instance_error():
    with pytest.raises(InstanceError) as caught:
        solve_assignment_json(b"{}")  # type: ignore[arg-type]
    assert str(caught.value) == "expected JSON text, got bytes"


def test_solve_assignment_json_long_id_is_cut_in_message():
    data = with_changes(affinity={"r" * 200: {}})
    with pytest.raises(InstanceError) as caught:
        solve_assignment_json(json.dumps(data))
    assert str(caught.value) == '"affinity" names unknown reviewer "' + "r" * 56 + "..."


def test_solve_assignment_json_id_with_newline_stays_on_one_line():
    data = with_changes(affinity={"r\n9": {}})
    with pytest.raises(InstanceError) as caught:
        solve_assignment_json(json.dumps(data))
    assert str(caught.value) == '"affinity" names unknown reviewer "r\\n9"'


def array_instance(**overrides: object) -> AssignmentInstance:
    fields: dict = {
        "reviewer_ids": ("r1", "r2"),
        "application_ids": ("x1",),
        "max_load": [1, 1],
        "min_load": [0, 0],
        "demand": [1],
        "affinity": [[0.5], [0.25]],
        "allowed": [[True], [True]],
    }
    fields.update(overrides)
    return AssignmentInstance(**fields)


def test_assignment_instance_valid_arrays_solve():
    assert solve_assignment(array_instance()).to_dict() == {
        "assignments": {"x1": ["r1"]},
        "total_affinity": 0.5,
        "unfilled": {},
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reviewer_ids": ("r1", "r1")}, 'duplicate reviewer id "r1"'),
        ({"application_ids": (7,)}, "application ids must be strings, got 7"),
        ({"max_load": [1]}, "max_load must have shape (2,), got (1,)"),
        ({"max_load": [1.0, 1.0]}, "max_load must hold integers, got dtype float64"),
        ({"max_load": [1, -1]}, 'reviewer "r2": max_load must be a non-negative integer, got -1'),
        ({"min_load": [2, 0]}, 'reviewer "r1": min_load 2 exceeds max_load 1'),
        ({"demand": [-1]}, 'application "x1": reviewers must be a non-negative integer, got -1'),
        ({"affinity": [[0.5]]}, "affinity must have shape (2, 1), got (1, 1)"),
        (
            {"affinity": [[0.5], [float("inf")]]},
            'affinity of reviewer "r2" for application "x1" must be a finite number, got Infinity',
        ),
        ({"allowed": [[True, False]]}, "allowed must have shape (2, 1), got (1, 2)"),
    ],
)
def test_assignment_instance_bad_arrays_raise_instance_error(overrides, message):
    with pytest.raises(InstanceError) as caught:
        array_instance(**overrides)
    assert str(caught.value) == message
