"""Benchmark the ranking board's service against a single plain SQL aggregate.

Run from the repository root:

    .venv/bin/python bench/bench_ranking.py                        # 100,000 applications, SQLite
    .venv/bin/python bench/bench_ranking.py --applications 10000   # smaller, a few seconds
    .venv/bin/python bench/bench_ranking.py --postgres postgresql+psycopg://user@host/db

It builds a fresh database with the app factory and the Alembic migrations (an SQLite file in
a temporary directory, or a new database created next to the one ``--postgres`` names and
dropped afterwards), bulk-inserts one call with the default six-criterion rubric and
N applications × 3 assignments × 3 submitted reviews × 6 scores, then times
``services.ranking.ranking_for_call`` against the least any board needs from SQL: one
aggregate of the weighted scores per application plus the per-criterion means it shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from sqlalchemy import create_engine, insert, select, text  # noqa: E402
from sqlalchemy.engine import Connection, make_url  # noqa: E402

from incubator import create_app  # noqa: E402
from incubator.domain.rubric import DEFAULT_RUBRIC  # noqa: E402
from incubator.extensions import db  # noqa: E402
from incubator.models import (  # noqa: E402
    Application,
    Assignment,
    Call,
    CallProgramme,
    Criterion,
    Programme,
    ProgrammePreference,
    Review,
    Site,
    User,
)
from incubator.models.application_scores import rebuild_call_scores  # noqa: E402
from incubator.services.ranking import ranking_for_call  # noqa: E402

REVIEWS_PER_APPLICATION = 3
N_REVIEWERS = 5_000
CHUNK = 50_000


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=100_000, help="applications in the call (default 100,000)")
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server to use instead of an SQLite file; "
                        "a fresh database is created beside the one named and dropped afterwards")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each side; the best counts (default 5)")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--scoped", action="store_true", help="also time the board as a manager limited to the "
                        "second programme (ranked by 30%% of the applications) sees it")
    args = parser.parse_args()
    if args.applications < 1 or args.repeat < 1:
        parser.error("--applications and --repeat must be at least 1")
    return args


# --- data ------------------------------------------------------------------------------------------


def chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def insert_rows(connection: Connection, model: type, rows: list[dict[str, Any]]) -> None:
    """Core executemany in chunks: column types (UTC datetimes, JSON) still apply."""
    for chunk in chunks(rows):
        connection.execute(insert(model.__table__), list(chunk))


def insert_scores(connection: Connection, rows: np.ndarray) -> None:
    """1.8M score rows straight through the driver: COPY on PostgreSQL, executemany on SQLite."""
    raw = connection.connection.driver_connection
    if connection.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy("COPY scores (review_id, criterion_id, value) FROM STDIN") as copy:
            for review_id, criterion_id, value in rows.tolist():
                copy.write_row((int(review_id), int(criterion_id), value))
    else:
        cursor = raw.cursor()
        for chunk in chunks(rows, 200_000):
            cursor.executemany("INSERT INTO scores (review_id, criterion_id, value) VALUES (?, ?, ?)",
                               [(int(r), int(c), v) for r, c, v in chunk.tolist()])


def populate(n_applications: int, seed: int) -> int:
    """One call, the default rubric, n applications with 3 reviews each; returns the call id."""
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    site = Site(name="OCC Innovation Park", organisation="Oslo Cancer Cluster", city="Oslo", country="NO")
    programmes = [Programme(slug="occ", name="OCC Incubator", host_site=site),
                  Programme(slug="bvh", name="BioVentureHub exchange", host_site=site)]
    call = Call(slug="bench", title="Benchmark intake", opens_at=now - dt.timedelta(days=60),
                closes_at=now - dt.timedelta(days=30), reviewers_per_application=REVIEWS_PER_APPLICATION)
    call.programmes = [CallProgramme(programme=programme, position=i) for i, programme in enumerate(programmes)]
    call.criteria = [Criterion(position=i, name=spec.name, description=spec.description, weight=spec.weight,
                               scale_min=spec.scale_min, scale_max=spec.scale_max, step=spec.step,
                               threshold=spec.threshold, descriptors=spec.descriptors)
                     for i, spec in enumerate(DEFAULT_RUBRIC)]
    db.session.add(call)
    db.session.commit()
    call_id, criteria = call.id, [(criterion.id, float(criterion.weight)) for criterion in call.criteria]
    programme_ids = [programme.id for programme in programmes]

    connection = db.session.connection()
    n, k = n_applications, REVIEWS_PER_APPLICATION
    n_reviewers = min(N_REVIEWERS, max(n // 20, k + 1))
    users = [{"id": i + 1, "email": f"founder{i}@bench.example", "name": f"Founder {i}", "role": "applicant",
              "created_at": now} for i in range(n)]
    users += [{"id": n + j + 1, "email": f"reviewer{j}@bench.example", "name": f"Reviewer {j}", "role": "reviewer",
               "created_at": now} for j in range(n_reviewers)]
    insert_rows(connection, User, users)

    submitted = [now - dt.timedelta(days=31, seconds=int(s)) for s in rng.integers(0, 30 * 86400, n)]
    insert_rows(connection, Application, [
        {"id": i + 1, "call_id": call_id, "applicant_id": i + 1, "state": "submitted",
         "company_name": f"Company {i}", "country": "NO", "org_number": f"9{i:08d}", "consent": True,
         "residency_purposes": [], "created_at": now, "updated_at": now, "submitted_at": submitted[i]}
        for i in range(n)
    ])
    second_choice = rng.random(n) < 0.3
    preferences = [{"application_id": i + 1, "programme_id": programme_ids[0], "rank": 1} for i in range(n)]
    preferences += [{"application_id": i + 1, "programme_id": programme_ids[1], "rank": 2}
                    for i in np.flatnonzero(second_choice).tolist()]
    insert_rows(connection, ProgrammePreference, preferences)

    # k distinct reviewers per application: consecutive ids from a random start.
    start = rng.integers(0, n_reviewers, n)
    reviewer_ids = (start[:, None] + np.arange(k)[None, :]) % n_reviewers + n + 1
    due = now - dt.timedelta(days=1)
    insert_rows(connection, Assignment, [
        {"application_id": i + 1, "reviewer_id": int(reviewer_ids[i, j]), "source": "auto", "assigned_at": now,
         "due_at": due}
        for i in range(n) for j in range(k)
    ])

    # Half points 0–5, each reviewer with a personal bias, so normalisation has work to do.
    bias = rng.normal(0, 0.5, n_reviewers + n + 1)
    quality = rng.normal(3, 0.8, n)
    raw = quality[:, None, None] + bias[reviewer_ids][:, :, None] + rng.normal(0, 0.6, (n, k, len(criteria)))
    values = np.clip(np.round(raw * 2) / 2, 0, 5)
    weights = np.array([weight for _, weight in criteria])
    weighted = np.round(values @ weights / weights.sum(), 4)
    insert_rows(connection, Review, [
        {"id": i * k + j + 1, "application_id": i + 1, "reviewer_id": int(reviewer_ids[i, j]), "state": "submitted",
         "weighted_score": float(weighted[i, j]), "created_at": now, "updated_at": now, "submitted_at": now}
        for i in range(n) for j in range(k)
    ])
    review_ids = np.repeat(np.arange(1, n * k + 1), len(criteria))
    criterion_ids = np.tile([criterion_id for criterion_id, _ in criteria], n * k)
    insert_scores(connection, np.column_stack([review_ids, criterion_ids, values.reshape(-1)]))
    # Bulk inserts pass the unit of work that keeps the board's statistics current.
    rebuild_call_scores(connection, call_id)
    if connection.dialect.name == "postgresql":  # explicit ids: move the sequences past them
        for table in ("users", "applications", "reviews"):
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}"))
        connection.execute(text("ANALYZE"))
    db.session.commit()
    return call_id


# --- timing ----------------------------------------------------------------------------------------


def timed(run: Callable[[], Any]) -> tuple[float, int]:
    """Seconds for one run, and how many rows it returned (the rows themselves are dropped)."""
    db.session.remove()  # each run starts cold: no objects cached in the session
    gc.collect()  # and with no garbage of the previous run for the collector to walk
    started = time.perf_counter()
    result = run()
    elapsed = time.perf_counter() - started
    return elapsed, len(result)


def plain_sql(call_id: int, criterion_ids: Sequence[int]) -> Callable[[], list[Any]]:
    """The floor: one aggregate per application, and the per-criterion means the board needs."""
    ids = ", ".join(str(int(criterion_id)) for criterion_id in criterion_ids)

    def run() -> list[Any]:
        connection = db.session.connection()
        rows = connection.execute(text(
            "SELECT application_id, AVG(weighted_score), COUNT(*) FROM reviews "
            "WHERE state = 'submitted' GROUP BY application_id")).fetchall()
        if ids:
            rows += connection.execute(text(
                "SELECT r.application_id, s.criterion_id, AVG(s.value) FROM scores s "
                "JOIN reviews r ON r.id = s.review_id "
                f"WHERE r.state = 'submitted' AND s.criterion_id IN ({ids}) "
                "GROUP BY r.application_id, s.criterion_id")).fetchall()
        return rows

    return run


def compare(label: str, repeat: int, ours: Callable[[], Any], floor: Callable[[], Any]) -> float:
    """Best of ``repeat`` for each side, the runs alternating so that both meet the same load."""
    ours_time = floor_time = float("inf")
    rows = 0
    for _ in range(repeat):
        elapsed, rows = timed(ours)
        ours_time = min(ours_time, elapsed)
        floor_time = min(floor_time, timed(floor)[0])
    ratio = ours_time / floor_time
    print(f"{label}")
    print(f"  ranking_for_call:  {ours_time:8.3f} s   ({rows:,} rows)")
    print(f"  plain SQL:         {floor_time:8.3f} s")
    print(f"  ratio:             {ratio:8.2f}x   {'within' if ratio <= 2 else 'OVER'} the 2x target")
    return ratio


def time_scoped_board(call_id: int, repeat: int) -> None:
    """The board as a manager limited to one programme sees it (services/scope.py), against the
    whole board: the scope is one more clause on the applications' query."""
    from incubator.services.scope import limited_to

    second = db.session.scalar(select(Programme.id).where(Programme.slug == "bvh"))
    whole = limited = float("inf")
    rows = 0
    for _ in range(repeat):
        whole = min(whole, timed(lambda: ranking_for_call(db.session.get(Call, call_id)))[0])
        with limited_to([second]):
            elapsed, rows = timed(lambda: ranking_for_call(db.session.get(Call, call_id)))
        limited = min(limited, elapsed)
    print("board limited to one programme")
    print(f"  whole board:       {whole:8.3f} s")
    print(f"  limited board:     {limited:8.3f} s   ({rows:,} rows)")


def run_benchmark(database_url: str, args: argparse.Namespace, instance: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "bench-only", "OUTBOX_DELIVERY": "manual",
                      "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        from flask_migrate import upgrade

        started = time.perf_counter()
        upgrade()
        call_id = populate(args.applications, args.seed)
        n = args.applications
        print(f"database: {db.engine.dialect.name}, {n:,} applications x {REVIEWS_PER_APPLICATION} reviews x "
              f"{len(DEFAULT_RUBRIC)} criteria = {n * REVIEWS_PER_APPLICATION * len(DEFAULT_RUBRIC):,} scores "
              f"(built in {time.perf_counter() - started:.1f} s)")
        call = db.session.get(Call, call_id)
        all_ids = [criterion.id for criterion in call.criteria]
        threshold_ids = [criterion.id for criterion in call.criteria if criterion.threshold is not None]

        def board(**options: Any) -> Callable[[], Any]:
            return lambda: ranking_for_call(db.session.get(Call, call_id), **options)

        ratios = [
            compare(f"board (threshold criteria means: {len(threshold_ids)})", args.repeat,
                    board(), plain_sql(call_id, threshold_ids)),
            compare("board, normalised", args.repeat, board(normalised=True), plain_sql(call_id, threshold_ids)),
            compare(f"CSV (all {len(all_ids)} criteria means)", args.repeat,
                    board(all_criterion_means=True), plain_sql(call_id, all_ids)),
        ]
        print(f"worst ratio: {max(ratios):.2f}x")
        if args.scoped:
            time_scoped_board(call_id, args.repeat)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    args = parse_arguments()
    with tempfile.TemporaryDirectory(prefix="bench-ranking-") as directory:
        instance = Path(directory)
        if not args.postgres:
            run_benchmark(f"sqlite:///{instance / 'bench.sqlite3'}", args, instance)
            return
        server = make_url(args.postgres)
        if server.drivername in ("postgres", "postgresql"):
            server = server.set(drivername="postgresql+psycopg")
        name = f"incubator_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run_benchmark(server.set(database=name).render_as_string(hide_password=False), args, instance)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
