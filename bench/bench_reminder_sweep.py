"""Benchmark: one reminder sweep over 1,000 and over 100,000 pending assignments.

    .venv/bin/python bench/bench_reminder_sweep.py                  # SQLite files in a temp dir
    .venv/bin/python bench/bench_reminder_sweep.py --database-url postgresql+psycopg://…/empty_db
    .venv/bin/python bench/bench_reminder_sweep.py --sizes 1000 10000

For each size it builds a fresh database by the Alembic migrations (5,000 reviewers; the
assignments spread over them; three reviewers per application; every review due in two days, so
every assignment has its 2-day reminder due), then times ``services.reminders.sweep`` (the SQL
statements counted with a ``before_cursor_execute`` listener, the commit included) and a second
sweep at the same moment, which must find nothing new. It prints one line per size and exits 1
if the statement counts differ between sizes: the sweep's query count must not depend on the
number of assignments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from incubator import create_app  # noqa: E402
from incubator.extensions import db  # noqa: E402
from incubator.models import Application, Assignment, Call, ReviewerProfile, User  # noqa: E402
from incubator.services import reminders  # noqa: E402

REVIEWERS = 5_000
PER_APPLICATION = 3
DEADLINE = dt.datetime(2027, 3, 29, 10, 0, tzinfo=dt.UTC)  # 12:00 in Oslo
NOW = dt.datetime(2027, 3, 27, 11, 0, tzinfo=dt.UTC)  # the 2-day reminder (12:00 CET)


def build(url: str, instance: Path, assignments: int) -> object:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": str(instance), "SECRET_KEY": "bench",
                      "SERVER_NAME": "occ.example", "OUTBOX_DELIVERY": "manual", "FAST_PASSWORD_HASHING": True})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        created = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
        call = Call(slug="bench", title="Bench intake", timezone="Europe/Oslo", opens_at=created,
                    closes_at=dt.datetime(2027, 3, 1, tzinfo=dt.UTC), review_deadline=DEADLINE)
        db.session.add(call)
        db.session.flush()
        reviewer_rows = [{"id": 1 + n, "email": f"reviewer{n}@bench.example", "name": f"Reviewer {n}",
                          "role": "reviewer", "active": True, "created_at": created} for n in range(REVIEWERS)]
        db.session.execute(insert(User), reviewer_rows)
        db.session.execute(insert(ReviewerProfile), [{"user_id": row["id"], "focus_areas": [], "expertise": "",
                                                       "max_load": 100, "reminders_paused": False,
                                                       "updated_at": created} for row in reviewer_rows])
        applications = -(-assignments // PER_APPLICATION)
        first_applicant = REVIEWERS + 1
        db.session.execute(insert(User), [{"id": first_applicant + n, "email": f"founder{n}@bench.example",
                                           "name": f"Founder {n}", "role": "applicant", "active": True,
                                           "created_at": created} for n in range(applications)])
        db.session.execute(insert(Application), [
            {"id": 1 + n, "call_id": call.id, "applicant_id": first_applicant + n, "state": "submitted",
             "company_name": f"Company {n} AS", "submitted_at": created, "created_at": created, "updated_at": created,
             "residency_purposes": [], "consent": True, "share_reviewer_comments": False}
            for n in range(applications)])
        rows = []
        for number in range(assignments):
            application = number // PER_APPLICATION
            reviewer = (application * PER_APPLICATION + number % PER_APPLICATION) % REVIEWERS
            rows.append({"application_id": 1 + application, "reviewer_id": 1 + reviewer, "source": "auto",
                         "assigned_at": created, "due_at": DEADLINE})
        db.session.execute(insert(Assignment), rows)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
    return app


def measure(app: object) -> tuple[int, float, reminders.SweepReport]:
    with app.app_context():  # type: ignore[attr-defined]
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        started = time.perf_counter()
        report = reminders.sweep(NOW)
        db.session.commit()
        elapsed = time.perf_counter() - started
        event.remove(db.engine, "before_cursor_execute", count)
        db.session.remove()
        return len(statements), elapsed, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--database-url", help="an empty PostgreSQL database to use (it is wiped)")
    args = parser.parse_args()
    counts = set()
    with tempfile.TemporaryDirectory() as directory:
        for size in args.sizes:
            url = args.database_url or f"sqlite:///{Path(directory) / f'bench-{size}.sqlite3'}"
            started = time.perf_counter()
            app = build(url, Path(directory), size)
            built = time.perf_counter() - started
            queries, seconds, report = measure(app)
            again_queries, again_seconds, again = measure(app)
            with app.app_context():  # type: ignore[attr-defined]
                dialect = db.engine.dialect.name
                outbox = db.session.scalar(text("SELECT count(*) FROM outbound_emails"))
                db.engine.dispose()
            print(f"{dialect:>10} {size:>7,} assignments of {min(REVIEWERS, size):,} reviewers "
                  f"(built in {built:.1f} s): sweep {queries} SQL statements, {seconds:.2f} s, "
                  f"{report.claimed:,} reminders in {report.emails:,} digests ({outbox:,} outbox rows); "
                  f"second sweep {again_queries} statements, {again_seconds:.2f} s, {again.claimed} new")
            counts.add(queries)
            assert again.claimed == 0 and report.claimed == size
    if len(counts) != 1:
        print(f"FAIL: the statement count depends on the size: {sorted(counts)}")
        return 1
    print(f"OK: {counts.pop()} SQL statements per sweep at every size")
    return 0


if __name__ == "__main__":
    sys.exit(main())
