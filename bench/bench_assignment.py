"""Benchmark the reviewer-assignment solver against a linear programme solved by HiGHS.

Run from the repository root:

    .venv/bin/python bench/bench_assignment.py            # 5,000 applications x 500 reviewers
    .venv/bin/python bench/bench_assignment.py --small    # 500 x 50, a few seconds

Generates a dense instance with a fixed seed, times our whole solve on the array entry
point (graph build + min-cost flow + result) and the JSON path (parse + validate + solve),
records peak memory, then solves the same lexicographic problem (most places filled,
then most minimum load honoured, then most affinity) as three chained LPs with
scipy's HiGHS and prints both times, the ratio and whether the optima agree.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import csr_matrix, vstack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from incubator.domain.assignment import (  # noqa: E402
    AssignmentInstance,
    AssignmentResult,
    solve_assignment,
    solve_assignment_json,
)

# Above this many candidate pairs the three HiGHS solves take minutes and gigabytes (about
# 5 minutes and 3.3 GB at the default 2.5M pairs), so the LP is skipped unless --lp yes.
LP_AUTO_LIMIT = 600_000


def generate(n_reviewers: int, n_applications: int, per_application: int, seed: int) -> AssignmentInstance:
    """Dense affinity, ~1% conflicts, capacity 1.25x demand, a fifth with a minimum load."""
    rng = np.random.default_rng(seed)
    demand = np.full(n_applications, per_application)
    mean_load = 1.25 * demand.sum() / n_reviewers
    max_load = rng.integers(int(0.6 * mean_load), int(1.4 * mean_load) + 1, n_reviewers)
    min_load = np.where(rng.random(n_reviewers) < 0.2, max_load // 2, 0)
    # Reviewers have a few topics; affinity = topic overlap plus noise, in [0, 1].
    topics_r = rng.random((n_reviewers, 8)) ** 3
    topics_a = rng.random((n_applications, 8)) ** 3
    affinity = topics_r @ topics_a.T
    affinity = np.clip(affinity / affinity.max() + rng.normal(0, 0.05, affinity.shape), 0, 1)
    return AssignmentInstance(
        reviewer_ids=tuple(f"r{i}" for i in range(n_reviewers)),
        application_ids=tuple(f"x{j}" for j in range(n_applications)),
        max_load=max_load,
        min_load=min_load,
        demand=demand,
        affinity=affinity,
        allowed=rng.random(affinity.shape) >= 0.01,
    )


def to_json(instance: AssignmentInstance) -> str:
    """The same instance as the JSON a manager would upload (every pair given)."""
    apps = instance.application_ids
    data = {
        "reviewers": {
            r: {"max_load": int(hi), "min_load": int(lo)}
            for r, hi, lo in zip(instance.reviewer_ids, instance.max_load, instance.min_load, strict=True)
        },
        "applications": {x: {"reviewers": int(d)} for x, d in zip(apps, instance.demand, strict=True)},
        "affinity": {
            r: dict(zip(apps, row.tolist(), strict=True))
            for r, row in zip(instance.reviewer_ids, instance.affinity, strict=True)
        },
        "conflicts": [
            [instance.reviewer_ids[i], apps[j]] for i, j in zip(*np.nonzero(~instance.allowed), strict=True)
        ],
    }
    return json.dumps(data)


def lexicographic_lp(instance: AssignmentInstance) -> tuple[int, int, float, list[float]]:
    """(filled, honoured minimum load, affinity, seconds per stage) via chained HiGHS LPs.

    Variables y[p] in [0, 1] per allowed pair and c[r] in [0, min_load[r]] with
    c[r] <= load[r]. The network polytope and its optimal faces are integral, so the LP
    optima are the integer optima our solver must reach.
    """
    pair_r, pair_x = np.nonzero(instance.allowed)
    n_p, n_r, n_a = pair_r.size, len(instance.reviewer_ids), len(instance.application_ids)
    cols = np.arange(n_p)
    ones = np.ones(n_p)
    n_vars = n_p + n_r
    per_application = csr_matrix((ones, (pair_x, cols)), shape=(n_a, n_vars))
    per_reviewer = csr_matrix((ones, (pair_r, cols)), shape=(n_r, n_vars))
    honoured = csr_matrix(
        (
            np.concatenate([-ones, np.ones(n_r)]),
            (np.concatenate([pair_r, np.arange(n_r)]), np.concatenate([cols, n_p + np.arange(n_r)])),
        ),
        shape=(n_r, n_vars),
    )
    a_ub = vstack([per_application, per_reviewer, honoured], format="csr")
    b_ub = np.concatenate([instance.demand, instance.max_load, np.zeros(n_r)]).astype(float)
    bounds = np.column_stack([np.zeros(n_vars), np.concatenate([ones, instance.min_load])])
    objectives = [
        np.concatenate([ones, np.zeros(n_r)]),
        np.concatenate([np.zeros(n_p), np.ones(n_r)]),
        np.concatenate([instance.affinity[pair_r, pair_x], np.zeros(n_r)]),
    ]
    optima, seconds = [], []
    for stage, objective in enumerate(objectives):
        if stage == 1 and not instance.min_load.any():
            optima.append(0.0)  # nothing to honour: skip a pointless solve
            seconds.append(0.0)
            continue
        start = time.perf_counter()
        res = linprog(-objective, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs-ipm")
        seconds.append(time.perf_counter() - start)
        if res.status != 0:
            raise RuntimeError(f"HiGHS stage {stage + 1} failed: {res.message}")
        optima.append(-res.fun)
        # Fix this level before optimising the next (integral for the first two levels).
        a_ub = vstack([a_ub, csr_matrix(-objective)], format="csr")
        b_ub = np.append(b_ub, -round(optima[-1]))
    return round(optima[0]), round(optima[1]), optima[2], seconds


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def summary(instance: AssignmentInstance, result: AssignmentResult) -> tuple[int, int]:
    index = {r: i for i, r in enumerate(instance.reviewer_ids)}
    load = np.zeros(len(index), dtype=int)
    for reviewers in result.assignments.values():
        for r in reviewers:
            load[index[r]] += 1
    return int(load.sum()), int(np.minimum(load, instance.min_load).sum())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="500 applications x 50 reviewers")
    parser.add_argument("--applications", type=int, help="default 5000 (500 with --small)")
    parser.add_argument("--reviewers", type=int, help="default 500 (50 with --small)")
    parser.add_argument("--per-application", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--lp",
        choices=["auto", "yes", "no"],
        default="auto",
        help=f"run the HiGHS baseline (auto: only up to {LP_AUTO_LIMIT:,} pairs)",
    )
    parser.add_argument("--no-json", action="store_true", help="skip timing the JSON path")
    args = parser.parse_args(argv)
    n_a = args.applications or (500 if args.small else 5000)
    n_r = args.reviewers or (50 if args.small else 500)

    instance = generate(n_r, n_a, args.per_application, args.seed)
    pairs = int(instance.allowed.sum())
    print(
        f"instance: {n_a:,} applications x {args.per_application} reviewers each, {n_r:,} reviewers, "
        f"{pairs:,} candidate pairs, {int((instance.min_load > 0).sum())} reviewers with a min_load, "
        f"seed {args.seed}"
    )

    rss_before = peak_rss_mb()
    start = time.perf_counter()
    result = solve_assignment(instance)
    ours = time.perf_counter() - start
    filled, honoured = summary(instance, result)
    print(
        f"ours (array entry point): {ours:.2f} s, peak RSS {peak_rss_mb():.0f} MB "
        f"(was {rss_before:.0f} MB before the solve)"
    )
    print(
        f"  filled {filled:,} of {int(instance.demand.sum()):,} places, "
        f"honoured {honoured:,} of {int(instance.min_load.sum()):,} min-load units, "
        f"total affinity {result.total_affinity:.6f}, unfilled {len(result.unfilled)}, "
        f"underloaded {len(result.underloaded)}"
    )

    if not args.no_json:
        text = to_json(instance)
        start = time.perf_counter()
        via_json = solve_assignment_json(text)
        seconds = time.perf_counter() - start
        same = via_json == result.to_dict()
        print(
            f"ours (JSON path, {len(text) / 1e6:.0f} MB of JSON: parse + validate + solve): "
            f"{seconds:.2f} s, same result: {'yes' if same else 'NO'}"
        )
        del text, via_json

    if args.lp == "no":
        print("HiGHS LP baseline skipped (--lp no)")
        return 0
    if args.lp == "auto" and pairs > LP_AUTO_LIMIT:
        print(
            f"HiGHS LP baseline skipped: {pairs:,} pairs is above {LP_AUTO_LIMIT:,}; at the default "
            "size it took ~5 minutes and 3.3 GB on 2 cores. Pass --lp yes to run it anyway, or pick "
            "a smaller size, e.g. --applications 1000 --reviewers 200"
        )
        return 0
    lp_filled, lp_honoured, lp_affinity, stage_seconds = lexicographic_lp(instance)
    lp_seconds = sum(stage_seconds)
    gap = abs(result.total_affinity - lp_affinity)
    agree = filled == lp_filled and honoured == lp_honoured and gap <= 1e-6 * max(1.0, abs(lp_affinity))
    print(
        f"HiGHS LP (3 chained stages: {', '.join(f'{s:.2f}' for s in stage_seconds)} s): "
        f"{lp_seconds:.2f} s, peak RSS {peak_rss_mb():.0f} MB"
    )
    print(f"  filled {lp_filled:,}, honoured {lp_honoured:,}, total affinity {lp_affinity:.6f}")
    print(f"ratio LP / ours: {lp_seconds / ours:.1f}x")
    print(f"optimum equal: {'yes' if agree else 'NO'} (|affinity difference| = {gap:.2e})")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
