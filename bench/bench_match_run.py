"""Benchmark computing and storing a match run, and the stored run's staleness check.

Run from the repository root:

    .venv/bin/python bench/bench_match_run.py                      # PostgreSQL, 100,000 applications
    .venv/bin/python bench/bench_match_run.py --applications 10000 # smaller, seconds
    .venv/bin/python bench/bench_match_run.py --profile            # and a cProfile of one computation

The dataset is the one ``bench_pages.py`` builds (``bench_ranking.populate`` plus
``bench_pages.add_residency_data``): one call, N applications with 3 submitted reviews, a fifth
accepted and released with a desired start and length, 500 slots. It is built once on a throwaway
PostgreSQL cluster (``--sqlite`` for an SQLite file instead); then ``services.match_runs.compute_run``
is timed ``--repeat`` times (each commit included; each run makes the previous one stale), and so
is ``is_stale`` on the stored run, which the match preview page asks on every request. The target
(issue 15): computing a run at 100,000 applications in at most 3 s, loading and storing included.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout
sys.path.insert(0, str(ROOT / "bench"))

from bench_pages import add_residency_data, add_staff  # noqa: E402
from bench_ranking import populate  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from incubator import create_app  # noqa: E402
from incubator.extensions import db  # noqa: E402
from incubator.models import Call, MatchPlacement, MatchRun, User  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed computations (default 3)")
    parser.add_argument("--sqlite", action="store_true", help="an SQLite file instead of PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one more computation")
    parser.add_argument("--seed", type=int, default=2027)
    return parser.parse_args()


def run(database_url: str, args: argparse.Namespace, instance: Path) -> None:
    from incubator.services.match_runs import compute_run, is_stale

    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "bench-only", "OUTBOX_DELIVERY": "manual",
                      "SQLALCHEMY_DATABASE_URI": database_url, "FAST_PASSWORD_HASHING": True,
                      "RATELIMIT_ENABLED": False, "SERVER_NAME": "localhost"})
    with app.app_context():
        from flask_migrate import upgrade

        started = time.perf_counter()
        upgrade()
        call_id = populate(args.applications, args.seed)
        add_residency_data(call_id, args.applications, args.seed)
        add_staff()
        print(f"{db.engine.dialect.name}, {args.applications:,} applications, built in "
              f"{time.perf_counter() - started:.1f} s")
        db.session.remove()

        def compute() -> tuple[float, float]:
            manager = db.session.scalar(select(User).where(User.role == "manager"))
            began, began_cpu = time.perf_counter(), time.process_time()
            compute_run(manager, db.session.get(Call, call_id), dt.datetime.now(dt.UTC))
            db.session.commit()
            elapsed, cpu = time.perf_counter() - began, time.process_time() - began_cpu
            db.session.remove()
            return elapsed, cpu

        timings = [compute() for _ in range(args.repeat)]
        times, cpu_times = [wall for wall, _ in timings], [cpu for _, cpu in timings]
        run_ = db.session.scalar(select(MatchRun).order_by(MatchRun.id.desc()).limit(1))
        rows = db.session.scalar(select(func.count()).select_from(MatchPlacement)
                                 .where(MatchPlacement.run_id == run_.id))
        print(f"run: {run_.participants:,} participants, {run_.placed:,} placed, {rows:,} rows stored")
        print(f"computing and storing the run: median {statistics.median(times):.2f} s "
              f"({', '.join(f'{t:.2f}' for t in times)}); this process's CPU: median "
              f"{statistics.median(cpu_times):.2f} s (the database's is not counted)")
        checks = []
        for _ in range(7):
            began = time.perf_counter()
            stale = is_stale(db.session.get(MatchRun, run_.id))
            checks.append(time.perf_counter() - began)
            db.session.remove()
        print(f"staleness check of the stored run: median {statistics.median(checks) * 1000:.1f} ms "
              f"(stale: {stale})")
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            compute()
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    args = parse_arguments()
    with tempfile.TemporaryDirectory(prefix="bench-match-run-") as directory:
        instance = Path(directory)
        if args.sqlite:
            run(f"sqlite:///{instance / 'bench.sqlite3'}", args, instance)
            return
        with PostgresServer() as server:
            run(server.create_database("bench_match_run"), args, instance)


if __name__ == "__main__":
    main()
