"""Time ``flask --app incubator match solve`` against a plain pure-Python deferred acceptance.

Run from the repository root:

    .venv/bin/python bench/bench_match_cli.py            # 100,000 applicants x 5 of 5,000 slots
    .venv/bin/python bench/bench_match_cli.py --small    # 10,000 x 5 of 500

Writes one seeded instance (``bench_matching.generate``) to a JSON file, then runs, each as a
whole process from a cold start, ``--repeat`` times: the app's command on that file, and a
textbook applicant-proposing deferred acceptance in plain Python (``json.load``, a rank
dictionary per slot, a heap per slot, ``json.dump``; no numpy, no app) on the same file. Both
print the same result, which is checked. Prints the medians of wall-clock and of CPU time (user +
system, which a machine busy with other work inflates far less) and their ratios; the target
(issue 15) is a ratio of at most 1, the command within the time of the plain script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_matching import generate  # noqa: E402

PLAIN_DEFERRED_ACCEPTANCE = r'''
import heapq, json, sys

with open(sys.argv[1]) as handle:
    data = json.load(handle)
applicants, slots = data["applicants"], data["slots"]
rank = {s: {a: r for r, a in enumerate(slot["ranking"])} for s, slot in slots.items()}
held = {s: [] for s in slots}
next_choice = dict.fromkeys(applicants, 0)
free = list(applicants)
while free:
    a = free.pop()
    prefs = applicants[a]
    while next_choice[a] < len(prefs):
        s = prefs[next_choice[a]]
        next_choice[a] += 1
        r = rank[s].get(a)
        if r is None or slots[s]["capacity"] == 0:
            continue
        heap = held[s]
        if len(heap) < slots[s]["capacity"]:
            heapq.heappush(heap, (-r, a))
            break
        if -heap[0][0] > r:
            free.append(heapq.heapreplace(heap, (-r, a))[1])
            break
matching = {s: sorted(a for _, a in held[s]) for s in sorted(held)}
placed = {a for names in matching.values() for a in names}
json.dump({"matching": matching, "unmatched": sorted(a for a in applicants if a not in placed)}, sys.stdout)
'''


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="10,000 applicants x 5 of 500 slots")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each process (default 3)")
    parser.add_argument("--seed", type=int, default=2027)
    return parser.parse_args()


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system seconds of the process: what it costs on a machine busy with others


def timed(command: list[str], env: dict[str, str]) -> tuple[Timing, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if finished.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}… failed:\n{finished.stderr[-2000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return Timing(elapsed, cpu), json.loads(finished.stdout)


def summary(label: str, timings: list[Timing]) -> tuple[float, float]:
    wall, cpu = statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    print(f"{label:<40} wall median {wall:6.2f} s, CPU median {cpu:6.2f} s "
          f"(wall: {', '.join(f'{t.wall:.2f}' for t in timings)})")
    return wall, cpu


def main() -> None:
    args = parse_arguments()
    n_applicants, n_slots = (10_000, 500) if args.small else (100_000, 5_000)
    with tempfile.TemporaryDirectory(prefix="bench-match-cli-") as directory:
        path = Path(directory) / "instance.json"
        path.write_text(json.dumps(generate(n_applicants, n_slots, 5, args.seed)))
        print(f"instance: {n_applicants:,} applicants x 5 of {n_slots:,} slots, {path.stat().st_size / 1e6:.1f} MB")
        # The command needs no database; a throwaway instance folder and SQLite file keep it off
        # any real one.
        env = {**os.environ, "PYTHONPATH": str(ROOT), "INSTANCE_PATH": directory,
               "SQLALCHEMY_DATABASE_URI": f"sqlite:///{Path(directory) / 'unused.sqlite3'}"}
        python = sys.executable
        flask = [python, "-m", "flask", "--app", "incubator", "match", "solve", str(path)]
        plain = [python, "-c", PLAIN_DEFERRED_ACCEPTANCE, str(path)]
        ours, theirs = [], []
        for _ in range(args.repeat):
            elapsed, our_result = timed(flask, env)
            ours.append(elapsed)
            elapsed, plain_result = timed(plain, env)
            theirs.append(elapsed)
            if our_result != plain_result:
                sys.exit("the command and the plain deferred acceptance disagree")
    our_wall, our_cpu = summary("flask --app incubator match solve", ours)
    plain_wall, plain_cpu = summary("plain pure-Python deferred acceptance", theirs)
    print(f"ratio command / plain: wall {our_wall / plain_wall:.2f}, CPU {our_cpu / plain_cpu:.2f} "
          "(target <= 1; results identical)")


if __name__ == "__main__":
    main()
