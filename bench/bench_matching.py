"""Benchmark the stable-matching solver against the `matching` package.

Run from the repository root:

    .venv/bin/python bench/bench_matching.py            # 100,000 applicants x 5 of 5,000 slots
    .venv/bin/python bench/bench_matching.py --small    # 10,000 x 5 of 500, a few seconds

It times our whole solve on a seeded random instance, then runs the `matching` package's
HospitalResident on growing instances (each in a subprocess with a time limit, because it
cannot be interrupted otherwise), checks its result is identical to ours on every size it
finishes, and prints both times and the ratio for the largest such size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from incubator.domain.matching import (  # noqa: E402
    blocking_pairs,
    parse_matching_instance,
    solve_matching,
    solve_matching_json,
)

ORACLE_LADDER = (1_000, 2_000, 3_000, 5_000, 10_000, 20_000, 50_000, 100_000)


def generate(n_applicants: int, n_slots: int, per_applicant: int, seed: int) -> dict:
    """A seeded instance shaped like a real intake, as decoded JSON.

    Slot popularity is skewed (a few programmes are wanted by many), slots rank their
    applicants by a shared quality score plus personal noise (so rejections cascade the way
    they do in practice), 10% of proposals are unacceptable to the slot, and total capacity
    covers about 80% of applicants, so some stay unmatched.
    """
    rng = np.random.default_rng(seed)
    popularity = rng.pareto(1.5, n_slots) + 1.0
    popularity /= popularity.sum()
    choices = _distinct_choices(rng, n_applicants, n_slots, per_applicant, popularity)
    quality = rng.random(n_applicants)

    applicant_ids = [f"a{i}" for i in range(n_applicants)]
    slot_ids = [f"s{j}" for j in range(n_slots)]
    # Group the (applicant, slot) proposals by slot, ordered by the slot's view of them.
    flat_slot = choices.ravel()
    flat_applicant = np.repeat(np.arange(n_applicants), per_applicant)
    score = quality[flat_applicant] + 0.3 * rng.random(flat_slot.size)
    acceptable = rng.random(flat_slot.size) >= 0.10
    order = np.lexsort((-score, flat_slot))
    order = order[acceptable[order]]
    bounds = np.searchsorted(flat_slot[order], np.arange(n_slots + 1))
    ranked = flat_applicant[order]

    capacity = np.maximum(1, np.rint(popularity * 0.8 * n_applicants)).astype(int)
    slots = {
        slot_ids[j]: {
            "capacity": int(capacity[j]),
            "ranking": [applicant_ids[a] for a in ranked[bounds[j] : bounds[j + 1]]],
        }
        for j in range(n_slots)
    }
    applicants = {applicant_ids[i]: [slot_ids[j] for j in choices[i]] for i in range(n_applicants)}
    return {"applicants": applicants, "slots": slots}


def _distinct_choices(rng: np.random.Generator, rows: int, n_slots: int, k: int, p: np.ndarray) -> np.ndarray:
    """rows x k slot indices drawn by popularity, distinct within each row (redraw clashes)."""
    k = min(k, n_slots)
    choices = rng.choice(n_slots, size=(rows, k), p=p)
    while True:
        ordered = np.sort(choices, axis=1)
        clash = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not clash.any():
            return choices
        choices[clash] = rng.choice(n_slots, size=(int(clash.sum()), k), p=p)


# --------------------------------------------------------------- the `matching` package


def oracle_input(data: dict) -> tuple[dict, dict, dict]:
    """The instance as HospitalResident wants it: only mutually acceptable pairs, no empty
    lists, no zero capacities (it crashes or warns otherwise). Not timed."""
    ranked = {s: set(slot["ranking"]) for s, slot in data["slots"].items() if slot["capacity"] > 0}
    resident_prefs = {
        a: [s for s in prefs if a in ranked.get(s, ())] for a, prefs in data["applicants"].items()
    }
    resident_prefs = {a: prefs for a, prefs in resident_prefs.items() if prefs}
    listed: dict[str, set[str]] = {}
    for a, prefs in resident_prefs.items():
        for s in prefs:
            listed.setdefault(s, set()).add(a)
    hospital_prefs = {
        s: [a for a in data["slots"][s]["ranking"] if a in applicants] for s, applicants in listed.items()
    }
    capacities = {s: data["slots"][s]["capacity"] for s in hospital_prefs}
    return resident_prefs, hospital_prefs, capacities


def run_oracle(n_applicants: int, n_slots: int, per_applicant: int, seed: int, conn) -> None:
    """Child process: regenerate the instance, time create + solve, send the matching back."""
    from matching.games import HospitalResident

    resident_prefs, hospital_prefs, capacities = oracle_input(
        generate(n_applicants, n_slots, per_applicant, seed)
    )
    outcome: dict = {}

    def work() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning would mean we fed it a bad game
            start = time.perf_counter()
            game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
            created = time.perf_counter()
            solved = game.solve(optimal="resident")
            done = time.perf_counter()
        outcome["create"], outcome["solve"] = created - start, done - created
        outcome["matching"] = {h.name: sorted(r.name for r in rs) for h, rs in solved.items()}

    # The package deep-copies its linked player objects recursively, which overflows the
    # default recursion limit from about 2,000 applicants; give it room in a big-stack thread.
    sys.setrecursionlimit(10**7)
    threading.stack_size(1 << 30)
    conn.send("ready")  # the parent's clock starts now, not during generation
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    conn.send(outcome)
    conn.close()


def oracle_ladder(args: argparse.Namespace, n_applicants: int, n_slots: int) -> None:
    context = multiprocessing.get_context("spawn")
    best = None
    for size in [n for n in ORACLE_LADDER if n < n_applicants] + [n_applicants]:
        slots = max(1, round(size * n_slots / n_applicants))
        data = generate(size, slots, args.per_applicant, args.seed)
        start = time.perf_counter()
        instance = parse_matching_instance(data)
        parsed = time.perf_counter()
        ours = solve_matching(instance).matching
        solved = time.perf_counter()

        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=run_oracle, args=(size, slots, args.per_applicant, args.seed, send))
        child.start()
        send.close()
        outcome, failure = None, f"did not finish within {args.oracle_limit:.0f} s"
        try:
            if receive.poll(600) and receive.recv() == "ready" and receive.poll(args.oracle_limit):
                outcome = receive.recv()
        except EOFError:  # the child died without answering
            child.join()
            failure = f"crashed (exit code {child.exitcode})"
        if child.is_alive():
            child.kill()
        child.join()
        if outcome is None:
            print(
                f"  {size:>7,} applicants, {slots:,} slots: matching package {failure}; stopping the ladder"
            )
            break
        theirs = {s: outcome["matching"].get(s, []) for s in ours}
        same = theirs == ours
        print(
            f"  {size:>7,} applicants, {slots:,} slots: matching package create "
            f"{outcome['create']:.2f} s + solve {outcome['solve']:.2f} s; ours build "
            f"{parsed - start:.3f} s + solve {solved - parsed:.3f} s; identical: {'yes' if same else 'NO'}"
        )
        if not same:
            raise SystemExit("results differ: this is a bug")
        best = (
            size,
            slots,
            outcome["create"] + outcome["solve"],
            outcome["solve"],
            solved - start,
            solved - parsed,
        )
    if best is None:
        print("the matching package finished no size within the limit")
        return
    size, slots, their_total, their_solve, our_total, our_solve = best
    print(
        f"largest size the matching package finished: {size:,} applicants x {args.per_applicant} "
        f"of {slots:,} slots"
    )
    print(
        f"  matching package {their_total:.2f} s (solve alone {their_solve:.2f} s), "
        f"ours {our_total:.3f} s (solve alone {our_solve:.3f} s)"
    )
    print(f"  ratio: {their_total / our_total:.0f}x overall, {their_solve / our_solve:.0f}x solve alone")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10,000 applicants x 5 of 500 slots")
    parser.add_argument("--applicants", type=int, help="default 100000 (10000 with --small)")
    parser.add_argument("--slots", type=int, help="default 5000 (500 with --small)")
    parser.add_argument("--per-applicant", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument(
        "--oracle-limit",
        type=float,
        default=60.0,
        help="seconds allowed to the matching package per size (default 60)",
    )
    parser.add_argument("--no-oracle", action="store_true", help="skip the matching package")
    args = parser.parse_args(argv)
    n_applicants = args.applicants or (10_000 if args.small else 100_000)
    n_slots = args.slots or (500 if args.small else 5_000)

    data = generate(n_applicants, n_slots, args.per_applicant, args.seed)
    entries = sum(map(len, data["applicants"].values()))
    print(
        f"instance: {n_applicants:,} applicants listing {args.per_applicant} of {n_slots:,} slots "
        f"({entries:,} preferences, {sum(len(s['ranking']) for s in data['slots'].values()):,} "
        f"ranking entries, {sum(s['capacity'] for s in data['slots'].values()):,} places), "
        f"seed {args.seed}"
    )
    start = time.perf_counter()
    instance = parse_matching_instance(data)
    parsed = time.perf_counter()
    result = solve_matching(instance)
    solved = time.perf_counter()
    unstable = blocking_pairs(instance, result)
    checked = time.perf_counter()
    print(
        f"ours: solve {solved - parsed:.2f} s (building the validated instance "
        f"{parsed - start:.2f} s before it); {n_applicants - len(result.unmatched):,} matched, "
        f"{len(result.unmatched):,} unmatched"
    )
    print(f"  stability check (blocking_pairs): {len(unstable)} blocking pairs, {checked - solved:.2f} s")
    text = json.dumps(data)
    start = time.perf_counter()
    via_json = solve_matching_json(text)
    print(
        f"  JSON path ({len(text) / 1e6:.0f} MB: parse + validate + solve): "
        f"{time.perf_counter() - start:.2f} s, same result: {'yes' if via_json == result.to_dict() else 'NO'}"
    )
    del text, via_json
    if unstable:
        return 1
    if not args.no_oracle:
        print(
            f"matching package (HospitalResident, resident-optimal), each size in a subprocess "
            f"limited to {args.oracle_limit:.0f} s:"
        )
        oracle_ladder(args, n_applicants, n_slots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
