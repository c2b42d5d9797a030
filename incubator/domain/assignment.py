"""Optimal assignment of reviewers to applications.

Input (JSON, see ``solve_assignment_json``)::

    {"reviewers": {"r1": {"max_load": 1}, "r2": {"max_load": 2, "min_load": 1}},
     "applications": {"x1": {"reviewers": 2}},
     "affinity": {"r1": {"x1": 0.8}, "r2": {"x1": 0.3}},
     "conflicts": [["r2", "x1"]]}

``reviewers``, ``applications`` and ``affinity`` are required; ``conflicts`` may be left
out. Output::

    {"assignments": {"x1": ["r1"]}, "total_affinity": 0.8, "unfilled": {"x1": 1}}

Rules
-----
* A reviewer reviews an application at most once, never a conflicted pair, and at most
  ``max_load`` applications; an application gets at most ``reviewers`` (its demand).
* Affinity not given for a pair counts as 0; the pair is still usable. Affinities may be
  any finite numbers (negative ones too: filling a place beats leaving it empty).
* The result is lexicographically optimal:
  1. the most review places filled (demand is the priority);
  2. then the most minimum-load units honoured, i.e. the largest
     sum over reviewers of min(load, min_load);
  3. then the largest total affinity.
  Levels 1 and 2 never compete: flow augmentation from any assignment that honours as
  much minimum load as possible never lowers a reviewer's load, so some assignment is best
  on both at once. Ranking minimum loads after filling therefore costs no minimum load.
* Infeasibility is reported, not raised: ``unfilled`` maps each application whose demand
  could not be met to the number of missing reviewers. A ``min_load`` that cannot be met
  (too few non-conflicted applications, or too little demand left once others' minimums
  are honoured) is met as far as possible and the shortfall is reported under an extra key
  ``underloaded`` (reviewer -> missing reviews). That key appears only when some minimum
  is missed, so instances without a problem get exactly the three keys above.
* ``assignments`` lists every application (sorted by id), each with its reviewers sorted
  by id; ``total_affinity`` is the sum over assigned pairs, rounded to 6 decimals so that
  0.8 + 0.9 reads 1.7.

Algorithm
---------
One min-cost max-flow (OR-Tools ``SimpleMinCostFlow.solve_max_flow_with_min_cost``):
source -> reviewer (two parallel arcs: ``min_load`` units carrying a large bonus, then the
rest up to ``max_load`` at no cost) -> application (capacity 1, cost -affinity) -> sink
(capacity = demand). Maximum flow gives level 1; among maximum flows the bonus, larger
than any affinity change a single augmenting cycle can make, gives level 2; affinity
gives level 3. Costs must be integers, so affinities are scaled by a power of ten (about
nine significant digits of the largest affinity) and rounded; the bound on cost
magnitudes the solver needs decides how far we can scale. The arc arrays are built in
numpy and added in one vectorised call, which keeps a 5,000 x 500 dense instance (2.5M
arcs) to a couple of seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # numpy itself loads inside the functions that compute
    import numpy as np
    from ortools.graph.python import min_cost_flow

ReviewerId = str
ApplicationId = str

SOURCE, SINK = 0, 1  # node numbers; reviewers follow, then applications


@dataclass(frozen=True, eq=False)
class AssignmentInstance:
    """A validated instance in array form; this is also the entry point for big callers.

    Row ``i`` of the matrices is ``reviewer_ids[i]``, column ``j`` is
    ``application_ids[j]``. Arrays are converted to the dtypes below and checked on
    construction, so a hand-built instance is as safe as a parsed one.
    """

    reviewer_ids: tuple[ReviewerId, ...]
    application_ids: tuple[ApplicationId, ...]
    max_load: np.ndarray  # (R,) int64
    min_load: np.ndarray  # (R,) int64, 0 where no minimum applies
    demand: np.ndarray  # (A,) int64, reviewers wanted per application
    affinity: np.ndarray  # (R, A) float64, 0 where the input gave none
    allowed: np.ndarray  # (R, A) bool, False for conflicted pairs

    def __post_init__(self) -> None:
        import numpy as np
        n_r, n_a = len(self.reviewer_ids), len(self.application_ids)
        self._set("reviewer_ids", tuple(self.reviewer_ids))
        self._set("application_ids", tuple(self.application_ids))
        _check_unique(self.reviewer_ids, "reviewer")
        _check_unique(self.application_ids, "application")
        self._set("max_load", _counts(self.max_load, (n_r,), "max_load"))
        self._set("min_load", _counts(self.min_load, (n_r,), "min_load"))
        self._set("demand", _counts(self.demand, (n_a,), "demand"))
        self._set("affinity", _matrix(self.affinity, (n_r, n_a), np.float64, "affinity"))
        self._set("allowed", _matrix(self.allowed, (n_r, n_a), np.bool_, "allowed"))
        self._check_values()

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)  # frozen: normalise once, here only

    def _check_values(self) -> None:
        import numpy as np
        for name, values, ids, kind in (
            ("max_load", self.max_load, self.reviewer_ids, "reviewer"),
            ("min_load", self.min_load, self.reviewer_ids, "reviewer"),
            ("reviewers", self.demand, self.application_ids, "application"),
        ):
            bad = np.flatnonzero((values < 0) | (values > MAX_COUNT))
            if bad.size:
                i = int(bad[0])
                require_count(int(values[i]), f"{kind} {quote(ids[i])}: {name}")
        over = np.flatnonzero(self.min_load > self.max_load)
        if over.size:
            i = int(over[0])
            raise InstanceError(
                f"reviewer {quote(self.reviewer_ids[i])}: min_load {self.min_load[i]} "
                f"exceeds max_load {self.max_load[i]}"
            )
        bad_r, bad_a = np.nonzero(~np.isfinite(self.affinity))
        if bad_r.size:
            r, a = int(bad_r[0]), int(bad_a[0])
            raise _bad_affinity(self.reviewer_ids[r], self.application_ids[a], self.affinity[r, a])


@dataclass(frozen=True)
class AssignmentResult:
    assignments: dict[ApplicationId, list[ReviewerId]]  # every application, sorted ids
    total_affinity: float  # rounded to 6 decimals
    unfilled: dict[ApplicationId, int]  # application -> reviewers still missing
    underloaded: dict[ReviewerId, int]  # reviewer -> reviews short of min_load

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "assignments": {x: list(rs) for x, rs in self.assignments.items()},
            "total_affinity": self.total_affinity,
            "unfilled": dict(self.unfilled),
        }
        if self.underloaded:  # only when a minimum was missed; see the module docstring
            out["underloaded"] = dict(self.underloaded)
        return out


# ---------------------------------------------------------------- array-level validation


def _check_unique(ids: tuple[str, ...], kind: str) -> None:
    for item in ids:
        if type(item) is not str:
            raise InstanceError(f"{kind} ids must be strings, got {quote(item)}")
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        for item in ids:
            if item in seen:
                raise InstanceError(f"duplicate {kind} id {quote(item)}")
            seen.add(item)


def _counts(values: object, shape: tuple[int, ...], name: str) -> np.ndarray:
    import numpy as np
    array = np.asarray(values)
    if array.shape != shape:
        raise InstanceError(f"{name} must have shape {shape}, got {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise InstanceError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _matrix(values: object, shape: tuple[int, ...], dtype: type, name: str) -> np.ndarray:
    import numpy as np
    array = np.asarray(values)
    if array.shape != shape:
        raise InstanceError(f"{name} must have shape {shape}, got {array.shape}")
    return array.astype(dtype, copy=False)


def _bad_affinity(reviewer: str, application: str, value: object) -> InstanceError:
    return InstanceError(
        f"affinity of reviewer {quote(reviewer)} for application {quote(application)} "
        f"must be a finite number, got {quote(value)}"
    )


# ------------------------------------------------------------------------- JSON parsing


def parse_assignment_instance(data: object) -> AssignmentInstance:
    """Check already-decoded JSON and build a validated instance."""
    import numpy as np
    top = require_object(data, "the assignment instance")
    require_keys(top, "the assignment instance", ("reviewers", "applications", "affinity"), ("conflicts",))
    reviewers = require_object(top["reviewers"], '"reviewers"')
    applications = require_object(top["applications"], '"applications"')
    max_load, min_load = _parse_reviewers(reviewers)
    demand = _parse_applications(applications)
    reviewer_index = {r: i for i, r in enumerate(reviewers)}
    application_index = {x: j for j, x in enumerate(applications)}
    affinity = _parse_affinity(top["affinity"], reviewer_index, application_index)
    allowed = np.ones(affinity.shape, dtype=bool)
    for r, x in _parse_conflicts(top.get("conflicts", []), reviewer_index, application_index):
        allowed[r, x] = False  # duplicates simply set it again
    return AssignmentInstance(
        reviewer_ids=tuple(reviewers),
        application_ids=tuple(applications),
        max_load=max_load,
        min_load=min_load,
        demand=demand,
        affinity=affinity,
        allowed=allowed,
    )


def _parse_reviewers(reviewers: dict[str, object]) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np
    max_load, min_load = [], []
    for reviewer, raw in reviewers.items():
        where = f"reviewer {quote(reviewer)}"
        if not isinstance(raw, dict):
            raise InstanceError(f"{where} must be an object, got {type_name(raw)}")
        require_keys(raw, where, ("max_load",), ("min_load",))
        most = require_count(raw["max_load"], f"{where}: max_load")
        least = require_count(raw.get("min_load", 0), f"{where}: min_load")
        if least > most:
            raise InstanceError(f"{where}: min_load {least} exceeds max_load {most}")
        max_load.append(most)
        min_load.append(least)
    return np.array(max_load, dtype=np.int64), np.array(min_load, dtype=np.int64)


def _parse_applications(applications: dict[str, object]) -> np.ndarray:
    import numpy as np
    demand = []
    for application, raw in applications.items():
        where = f"application {quote(application)}"
        if not isinstance(raw, dict):
            raise InstanceError(f"{where} must be an object, got {type_name(raw)}")
        require_keys(raw, where, ("reviewers",))
        demand.append(require_count(raw["reviewers"], f"{where}: reviewers"))
    return np.array(demand, dtype=np.int64)


def _parse_affinity(
    raw: object, reviewer_index: dict[str, int], application_index: dict[str, int]
) -> np.ndarray:
    """Fill a dense matrix, one reviewer row at a time with C-speed bulk operations.

    A dense instance has millions of pairs, so every check here is a set or numpy
    operation over a whole row; the slow per-entry scans only run to name a culprit.
    """
    import numpy as np
    table = require_object(raw, '"affinity"')
    affinity = np.zeros((len(reviewer_index), len(application_index)), dtype=np.float64)
    for reviewer, row in table.items():
        if reviewer not in reviewer_index:
            raise InstanceError(f'"affinity" names unknown reviewer {quote(reviewer)}')
        if not isinstance(row, dict):
            raise InstanceError(
                f"affinity for reviewer {quote(reviewer)} must be an object, got {type_name(row)}"
            )
        if not row.keys() <= application_index.keys():
            unknown = next(x for x in row if x not in application_index)
            raise InstanceError(
                f"affinity for reviewer {quote(reviewer)} names unknown application {quote(unknown)}"
            )
        values = _finite_values(reviewer, row)
        columns = np.fromiter(map(application_index.__getitem__, row), np.intp, len(row))
        affinity[reviewer_index[reviewer], columns] = values
    return affinity


def _finite_values(reviewer: str, row: dict[str, object]) -> np.ndarray:
    import numpy as np

    # type() rather than isinstance(): JSON true/false arrive as bool, a subclass of int.
    if set(map(type, row.values())) <= {int, float}:
        try:
            values = np.fromiter(row.values(), np.float64, len(row))
        except OverflowError:  # an integer too large for a float
            values = None
        if values is not None and np.isfinite(values).all():
            return values
    for application, value in row.items():
        if not _is_finite_number(value):
            raise _bad_affinity(reviewer, application, value)
    raise AssertionError("unreachable")  # pragma: no cover


def _is_finite_number(value: object) -> bool:
    if type(value) not in (int, float):
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float range
        return False


def _parse_conflicts(
    raw: object, reviewer_index: dict[str, int], application_index: dict[str, int]
) -> list[tuple[int, int]]:
    pairs = []
    for k, item in enumerate(require_array(raw, '"conflicts"')):
        where = f"conflicts[{k}]"
        if not isinstance(item, list) or len(item) != 2 or not all(type(part) is str for part in item):
            raise InstanceError(f"{where} must be a [reviewer, application] pair of ids, got {quote(item)}")
        reviewer, application = item
        if reviewer not in reviewer_index:
            raise InstanceError(f"{where} names unknown reviewer {quote(reviewer)}")
        if application not in application_index:
            raise InstanceError(f"{where} names unknown application {quote(application)}")
        pairs.append((reviewer_index[reviewer], application_index[application]))
    return pairs


# ------------------------------------------------------------------------------ solving


def solve_assignment(instance: AssignmentInstance) -> AssignmentResult:
    """The lexicographically optimal assignment described in the module docstring."""
    import numpy as np
    pair_r, pair_x = np.nonzero(instance.allowed)
    if pair_r.size and instance.demand.sum() and instance.max_load.sum():
        used = _solve_flow(instance, pair_r, pair_x)
        pair_r, pair_x = pair_r[used], pair_x[used]
    else:  # nothing can be assigned; skip the solver, which dislikes empty graphs
        pair_r, pair_x = pair_r[:0], pair_x[:0]
    return _result(instance, pair_r, pair_x)


def _solve_flow(instance: AssignmentInstance, pair_r: np.ndarray, pair_x: np.ndarray) -> np.ndarray:
    """Solve the min-cost max-flow; returns a mask of the candidate pairs that are used."""
    import numpy as np
    n_r, n_a = len(instance.reviewer_ids), len(instance.application_ids)
    reviewer_node = np.arange(2, 2 + n_r, dtype=np.int32)
    application_node = np.arange(2 + n_r, 2 + n_r + n_a, dtype=np.int32)
    total_demand = int(instance.demand.sum())
    affinity = instance.affinity[pair_r, pair_x]
    scale, bonus = _cost_scale(instance, affinity, total_demand)

    # OR-Tools is heavy to import; only solving needs it, so commands and web workers start fast.
    from ortools.graph.python import min_cost_flow

    flow = min_cost_flow.SimpleMinCostFlow()
    _add_arcs(flow, SOURCE, reviewer_node, instance.min_load, -bonus)  # minimums first
    _add_arcs(flow, SOURCE, reviewer_node, instance.max_load - instance.min_load, 0)
    pair_arcs = flow.add_arcs_with_capacity_and_unit_cost(
        reviewer_node[pair_r],
        application_node[pair_x],
        np.ones(pair_r.size, dtype=np.int64),
        -np.rint(affinity * scale).astype(np.int64),  # min-cost, so negate to maximise
    )
    _add_arcs(flow, application_node, SINK, instance.demand, 0)
    # Offer every demanded place: solve_max_flow_with_min_cost sends what it can.
    flow.set_node_supply(SOURCE, total_demand)
    flow.set_node_supply(SINK, -total_demand)

    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:  # cannot happen for a valid instance; do not mask it
        raise RuntimeError(f"min-cost flow solver failed with status {status!r}")
    return np.asarray(flow.flows(pair_arcs)) > 0


def _add_arcs(
    flow: min_cost_flow.SimpleMinCostFlow,
    tails: int | np.ndarray,
    heads: int | np.ndarray,
    capacities: np.ndarray,
    unit_cost: int,
) -> None:
    import numpy as np
    n = capacities.size
    flow.add_arcs_with_capacity_and_unit_cost(
        np.broadcast_to(np.asarray(tails, dtype=np.int32), (n,)).copy(),
        np.broadcast_to(np.asarray(heads, dtype=np.int32), (n,)).copy(),
        capacities.astype(np.int64),
        np.full(n, unit_cost, dtype=np.int64),
    )


# The solver scales costs by (nodes + 1) internally and sums cost * flow in int64; stay a
# factor of 16 below those limits.
_COST_BUDGET = 2**59


def _cost_scale(instance: AssignmentInstance, affinity: np.ndarray, total_demand: int) -> tuple[float, int]:
    """(scale for affinities, per-unit bonus for minimum-load arcs), both overflow-safe.

    The bonus must beat any affinity change one augmenting cycle can make: such a cycle
    visits each reviewer (and each application) at most once, so it uses at most
    2 * min(R, A) reviewer->application arcs, each worth at most the largest scaled cost.
    """
    import numpy as np
    n_nodes = 2 + len(instance.reviewer_ids) + len(instance.application_ids)
    cycle_arcs = 2 * min(len(instance.reviewer_ids), len(instance.application_ids))
    needs_bonus = bool(instance.min_load.any())
    largest = float(np.abs(affinity).max(initial=0.0))
    # About nine significant digits of the largest affinity, as a power of ten.
    exponent = 9 - (math.ceil(math.log10(largest)) if largest > 0 else 0)
    for k in range(exponent, exponent - 30, -1):
        scale = 10.0**k
        biggest_cost = math.ceil(largest * scale)
        bonus = cycle_arcs * biggest_cost + 1 if needs_bonus else 0
        top = max(bonus, biggest_cost, 1)
        if top * (n_nodes + 1) <= _COST_BUDGET and top * max(total_demand, 1) <= _COST_BUDGET:
            return scale, bonus
    raise InstanceError(  # pragma: no cover - needs an absurdly large instance
        "the instance is too large to optimise exactly with 64-bit costs"
    )


def _result(instance: AssignmentInstance, pair_r: np.ndarray, pair_x: np.ndarray) -> AssignmentResult:
    import numpy as np
    reviewers, applications = instance.reviewer_ids, instance.application_ids
    lists: list[list[str]] = [[] for _ in applications]
    for r, x in zip(pair_r.tolist(), pair_x.tolist(), strict=True):
        lists[x].append(reviewers[r])
    load = np.bincount(pair_r, minlength=len(reviewers))
    got = np.bincount(pair_x, minlength=len(applications))
    missing = instance.demand - got
    short = instance.min_load - load
    total = math.fsum(instance.affinity[pair_r, pair_x].tolist())
    return AssignmentResult(
        assignments={applications[j]: sorted(lists[j]) for j in _sorted_by_id(applications)},
        total_affinity=round(total, 6) + 0.0,  # + 0.0 turns -0.0 into 0.0
        unfilled={applications[j]: int(missing[j]) for j in _sorted_by_id(applications) if missing[j] > 0},
        underloaded={reviewers[i]: int(short[i]) for i in _sorted_by_id(reviewers) if short[i] > 0},
    )


def _sorted_by_id(ids: tuple[str, ...]) -> list[int]:
    return sorted(range(len(ids)), key=ids.__getitem__)


def solve_assignment_json(text: str) -> dict[str, object]:
    """Parse, validate and solve a JSON instance; raises InstanceError for any bad input."""
    return solve_assignment(parse_assignment_instance(parse_json(text))).to_dict()
