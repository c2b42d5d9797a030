"""Benchmark the manager, reviewer and admin pages at 1k, 10k and 100k applications.

Run from the repository root:

    .venv/bin/python bench/bench_pages.py                         # PostgreSQL 1k, 10k, 100k; SQLite 10k
    .venv/bin/python bench/bench_pages.py --sizes 1000 --sqlite-sizes ''   # a quick run

PostgreSQL is a throwaway cluster started from the machine's binaries (``tests/support/postgres.py``);
SQLite is a file in a temporary directory. Each dataset is one call with the default rubric and
N applications × 3 submitted reviews × 6 scores (``bench_ranking.populate``, bulk inserts and COPY),
plus what the residency pages need: a fifth of the applications accepted and released with a
desired start and length, 500 slots (one a 10,000-place shared-desk floor), offers and residencies
for a few, and an audit log and an outbox of N/2 rows each.

Every page is requested through the app's test client by a logged-in user of the right role:
one warm-up request, then ``--repeat`` timed ones (a page slower than ``--slow`` seconds is timed
once). On PostgreSQL the database is vacuumed and analysed after the build, as autovacuum would
leave it. Printed per page: median and p95 latency, SQL statements per request, response size, and
the median's ratio to the home page's in the same run. The targets (issue 15): every page ≤ 100 ms
and ≤ 200 KB at 100k on PostgreSQL, with the same statement count at 1k and 100k.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout
sys.path.insert(0, str(ROOT / "bench"))

from bench_ranking import insert_rows, populate  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from incubator import create_app  # noqa: E402
from incubator.extensions import db  # noqa: E402
from incubator.models import AuditEvent, Offer, OutboundEmail, Residency, Slot, User  # noqa: E402
from incubator.models.programmes import Programme  # noqa: E402
from incubator.services.passwords import hash_password  # noqa: E402
from tests.support.postgres import PostgresServer, drop_database  # noqa: E402

PASSWORD = "bench password that is long enough"
STAFF_TOTP_KEY = "BENCHBENCHBENCHBENCHBENCHBENCH23"  # base32; the bench signs staff in with its codes
N_SLOTS = 500
START = dt.date(2027, 1, 1)


@dataclass(frozen=True)
class Page:
    name: str
    role: str  # which logged-in client asks
    url: str


@dataclass
class Result:
    page: Page
    times: list[float]
    statements: int
    size: int
    status: int
    first: float = 0.0  # the warm-up request: what a stored figure's recomputation costs

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000",
                        help="applications per PostgreSQL dataset, comma-separated (default 1000,10000,100000)")
    parser.add_argument("--sqlite-sizes", default="10000",
                        help="applications per SQLite dataset, comma-separated, '' for none (default 10000)")
    parser.add_argument("--repeat", type=int, default=7, help="timed requests per page (default 7)")
    parser.add_argument("--slow", type=float, default=5.0,
                        help="a page whose first timed request takes longer is timed only once (default 5 s)")
    parser.add_argument("--skip", default="",
                        help="pages to leave out, comma-separated parts of their names (e.g. 'assign,decisions' "
                        "for a 100k run without the pages that take minutes there)")
    parser.add_argument("--seed", type=int, default=2027)
    args = parser.parse_args()
    args.pg_sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    args.lite_sizes = [int(size) for size in args.sqlite_sizes.split(",") if size.strip()]
    if args.repeat < 1 or any(size < 20 for size in args.pg_sizes + args.lite_sizes):
        parser.error("--repeat must be at least 1 and every size at least 20")
    return args


# --- data ------------------------------------------------------------------------------------------


def add_residency_data(call_id: int, n: int, seed: int) -> None:
    """Accept and release a fifth of the applications, add slots, offers, residencies, audit, outbox."""
    rng = np.random.default_rng(seed + 1)
    now = dt.datetime.now(dt.UTC)
    connection = db.session.connection()
    accepted = np.flatnonzero(rng.random(n) < 0.2) + 1
    lengths = rng.choice([6, 12, 24], size=n)
    starts = rng.integers(0, 12, size=n)
    space = np.array(["office_desk", "lab_bench", "office_lab"])[rng.integers(0, 3, size=n)]
    connection.execute(text(
        "UPDATE applications SET desired_length_months = :length, space_type = :space, desired_start = :start "
        "WHERE id = :id"), [
        {"id": i + 1, "length": int(lengths[i]), "space": str(space[i]),
         "start": dt.date(2027 + int(starts[i]) // 12, int(starts[i]) % 12 + 1, 1)} for i in range(n)])
    connection.execute(text("UPDATE applications SET state = 'accepted', decision_released_at = :now WHERE id = :id"),
                       [{"id": int(i), "now": now} for i in accepted])

    programmes = list(db.session.scalars(db.select(Programme).order_by(Programme.id)))
    slots = [{"id": s + 1, "programme_id": programmes[s % len(programmes)].id,
              "site_id": programmes[0].host_site_id, "label": f"Slot {s:03d}",
              "space_type": ["office_desk", "lab_bench", "office_lab"][s % 3],
              "capacity": 10_000 if s == 0 else int(rng.integers(1, 6)),
              "starts_on": START, "ends_on": dt.date(2030, 1, 1)} for s in range(N_SLOTS)]
    insert_rows(connection, Slot, slots)

    # A few percent of the accepted already hold an offer or a residency (the shared floor is busy).
    holders = accepted[: max(len(accepted) // 20, 2)]
    offers, residencies = [], []
    for number, application_id in enumerate(holders.tolist()):
        slot_id = 1 if number % 2 == 0 else int(rng.integers(2, N_SLOTS + 1))
        period = {"starts_on": START, "ends_on": dt.date(2028, 1, 1)}
        offer = {"id": number + 1, "application_id": application_id, "slot_id": slot_id,
                 "response_deadline": now + dt.timedelta(days=14), "created_at": now, "offered_at": now, **period}
        if number % 3 == 0:
            offers.append({**offer, "state": "offered", "responded_at": None})
        else:
            offers.append({**offer, "state": "accepted", "responded_at": now})
            residencies.append({"id": len(residencies) + 1, "application_id": application_id, "offer_id": number + 1,
                                "slot_id": slot_id, "state": "active", "created_at": now, "updated_at": now,
                                **period})
    insert_rows(connection, Offer, offers)
    insert_rows(connection, Residency, residencies)

    insert_rows(connection, AuditEvent, [
        {"id": i + 1, "created_at": now - dt.timedelta(seconds=i), "actor_id": None, "action": "review.submitted",
         "subject_type": "review", "subject_id": i + 1, "details": {}} for i in range(n // 2)])
    insert_rows(connection, OutboundEmail, [
        {"id": i + 1, "dedupe_key": f"bench:{i}", "to_address": f"founder{i}@bench.example",
         "subject": "Your application", "body_text": "Thank you for applying.", "kind": "application_submitted",
         "status": "sent" if i % 10 else "failed", "attempts": 1, "created_at": now, "next_attempt_at": now,
         "sent_at": now if i % 10 else None} for i in range(n // 2)])
    if connection.dialect.name == "postgresql":
        for table in ("slots", "offers", "residencies", "audit_events", "outbound_emails"):
            connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"GREATEST(MAX(id), 1)) FROM {table}"))
        connection.execute(text("ANALYZE"))
    db.session.commit()


def add_staff() -> dict[str, str]:
    """A manager and an admin to log in as; the reviewer is one of the call's (with assignments)."""
    password_hash = hash_password(PASSWORD)
    for role in ("manager", "admin"):  # staff sign in with a second factor: a known key here
        db.session.add(User(email=f"{role}@bench.example", name=role.title(), role=role,
                            password_hash=password_hash, totp_secret=STAFF_TOTP_KEY,
                            two_factor_enrolled_at=dt.datetime.now(dt.UTC)))
    reviewer = db.session.scalar(db.select(User).where(User.role == "reviewer").order_by(User.id).limit(1))
    assert reviewer is not None
    reviewer.password_hash = password_hash
    db.session.commit()
    return {"manager": "manager@bench.example", "admin": "admin@bench.example", "reviewer": reviewer.email}


# --- measuring -------------------------------------------------------------------------------------


def pages(call_id: int) -> list[Page]:
    call = f"/manage/calls/{call_id}"
    return [
        Page("home", "anonymous", "/"),
        Page("reviewer list", "reviewer", "/review/"),
        Page("manage overview", "manager", "/manage/"),
        Page("decisions", "manager", f"{call}/decisions"),
        Page("assignments", "manager", f"{call}/assignments"),
        # A page deep in the call (keyset: the same cost), a search, a filter and the look-ups
        # behind the hand-assignment fields; populate() numbers applications from 1.
        Page("assignments, a later page", "manager", f"{call}/assignments?after=17"),
        Page("assignments, searched", "manager", f"{call}/assignments?q=company+12"),
        Page("assignments, missing reviewers", "manager", f"{call}/assignments?missing=1"),
        Page("assignments, application suggestions", "manager", f"{call}/assignments/applications.json?q=company+4"),
        Page("assignments, reviewer suggestions", "manager", f"{call}/assignments/reviewers.json?q=reviewer+1"),
        Page("reviewer pool", "manager", f"{call}/pool"),
        Page("ranking board", "manager", f"{call}/ranking"),
        Page("ranking CSV", "manager", f"{call}/ranking.csv"),
        # The board's other views: deep in the call, sorted by another column, filtered (the
        # first programme populate() creates), by a flag, and normalised.
        Page("ranking board, page 500", "manager", f"{call}/ranking?page=500"),
        Page("ranking board, by company", "manager", f"{call}/ranking?sort=company"),
        Page("ranking board, one programme", "manager", f"{call}/ranking?programme=1"),
        Page("ranking board, disagreement flag", "manager", f"{call}/ranking?flag=disagreement"),
        # Normalised: the first request computes the call's stored snapshot (the "first" column).
        Page("ranking board, normalised", "manager", f"{call}/ranking?normalised=1"),
        Page("ranking board, normalised, page 500", "manager", f"{call}/ranking?normalised=1&page=500"),
        Page("ranking board, normalised, by company", "manager", f"{call}/ranking?normalised=1&sort=company"),
        Page("ranking CSV, normalised", "manager", f"{call}/ranking.csv?normalised=1"),
        Page("committee view of one application", "manager", "/manage/applications/1/committee"),
        Page("decisions, release preview", "manager", f"{call}/decisions/release"),
        Page("match preview (stored run)", "manager", f"{call}/match"),
        Page("occupancy, 36 months", "manager", f"/manage/occupancy?start={START:%Y-%m}&months=36"),
        Page("occupancy CSV", "manager", f"/manage/occupancy.csv?start={START:%Y-%m}&months=36"),
        Page("slots", "manager", "/manage/slots"),
        Page("residencies", "manager", "/manage/residencies"),
        Page("call insights", "manager", f"{call}/insights"),
        Page("call insights PDF", "manager", f"{call}/insights/report.pdf"),
        Page("insights across calls", "manager", f"/manage/insights?year={dt.datetime.now(dt.UTC).year}"),
        Page("insights xlsx", "manager", f"/manage/insights/report.xlsx?year={dt.datetime.now(dt.UTC).year}"),
        Page("audit log", "admin", "/admin/audit"),
        Page("outbox", "admin", "/admin/outbox"),
    ]


@contextmanager
def counting_statements(app: Flask) -> Iterator[list[int]]:
    counter = [0]

    def count(*_: Any) -> None:
        counter[0] += 1

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", count)


def compute_match(app: Flask, call_id: int) -> float:
    """Compute and store the call's match run (what the "Compute the match" button does), timed."""
    from incubator.models import Call
    from incubator.services.match_runs import compute_run

    with app.app_context():
        manager = db.session.scalar(db.select(User).where(User.role == "manager"))
        started = time.perf_counter()
        compute_run(manager, db.session.get(Call, call_id), dt.datetime.now(dt.UTC))
        db.session.commit()
        elapsed = time.perf_counter() - started
        db.session.remove()
    return elapsed


def time_next_overdue(app: Flask, call_id: int, repeat: int) -> str:
    """The read a ranking board rendering makes to know until when it holds (``next_overdue_moment``,
    once per call version and view), median of ``repeat``: now, when every assignment's due
    moment has passed (the dataset's), and two days earlier, when every one is still ahead but
    reviewed, so the walk of ``ix_assignments_due_at`` reads all of them and finds none open
    (its worst case)."""
    from incubator.models import Call
    from incubator.services.ranking import next_overdue_moment

    now = dt.datetime.now(dt.UTC)
    figures = []
    with app.app_context():
        call = db.session.get(Call, call_id)
        for label, moment in (("now", now), ("all ahead, all reviewed", now - dt.timedelta(days=2))):
            times = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                next_overdue_moment(call, moment)
                times.append(time.perf_counter() - started)
            figures.append(f"{label} {statistics.median(times[1:]) * 1000:.2f} ms")
        db.session.remove()
    return "; ".join(figures)


def settle(app: Flask) -> None:
    """VACUUM ANALYZE on PostgreSQL: measure the database as autovacuum leaves it, not right after
    the build's bulk writes (dead row versions, visibility maps not yet set)."""
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        db.session.remove()


def logged_in(app: Flask, email: str) -> FlaskClient:
    import re

    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form)
    assert token, "no CSRF token on /login"
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)})
    assert response.status_code == 302, f"could not log in as {email}"
    if response.headers["Location"].startswith("/login/code"):
        import pyotp

        form = client.get("/login/code").get_data(as_text=True)
        token = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', form)
        assert token, "no CSRF token on /login/code"
        response = client.post("/login/code", data={"code": pyotp.TOTP(STAFF_TOTP_KEY).now(),
                                                    "csrf_token": token.group(1)})
        assert response.status_code == 302, f"second factor refused for {email}"
    return client


def request_once(client: FlaskClient, url: str, counter: list[int]) -> tuple[float, int, int, int]:
    before = counter[0]
    started = time.perf_counter()
    response = client.get(url)
    size = sum(len(chunk) for chunk in response.iter_encoded())  # streamed bodies count in full
    elapsed = time.perf_counter() - started
    response.close()
    return elapsed, counter[0] - before, size, response.status_code


def measure(app: Flask, clients: dict[str, FlaskClient], page: Page, repeat: int, slow: float) -> Result:
    with counting_statements(app) as counter:
        first = request_once(clients[page.role], page.url, counter)  # warm-up (templates, caches)
        times: list[float] = []
        statements, size, status = first[1], first[2], first[3]
        if first[0] <= slow:
            for _ in range(repeat):
                elapsed, statements, size, status = request_once(clients[page.role], page.url, counter)
                times.append(elapsed)
                if elapsed > slow:
                    break
        else:
            times.append(first[0])
    return Result(page, times, statements, size, status, first[0])


def report(label: str, results: list[Result]) -> None:
    home = results[0].median
    print(f"\n{label}")
    print(f"{'page':<24}{'first':>10}{'median':>10}{'p95':>10}{'stmts':>7}{'size':>11}{'× home':>9}  status")
    for result in results:
        print(f"{result.page.name:<24}{result.first * 1000:>8.1f}ms{result.median * 1000:>8.1f}ms"
              f"{result.p95 * 1000:>8.1f}ms"
              f"{result.statements:>7}{result.size / 1024:>9.1f}KB{result.median / home:>9.1f}  {result.status}")
    sys.stdout.flush()


def run_dataset(database_url: str, n: int, args: argparse.Namespace, instance: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "bench-only", "OUTBOX_DELIVERY": "manual",
                      "SQLALCHEMY_DATABASE_URI": database_url, "FAST_PASSWORD_HASHING": True,
                      "SERVER_NAME": "localhost"})  # the login throttle needs the limiter's storage
    with app.app_context():
        from flask_migrate import upgrade

        started = time.perf_counter()
        upgrade()
        logging.getLogger("alembic").setLevel(logging.WARNING)  # after the first run, quiet
        call_id = populate(n, args.seed)
        add_residency_data(call_id, n, args.seed)
        emails = add_staff()
        built = time.perf_counter() - started
        dialect = db.engine.dialect.name
        db.session.remove()
    compute_seconds = compute_match(app, call_id)
    settle(app)
    clients = {role: logged_in(app, email) for role, email in emails.items()}
    clients["anonymous"] = app.test_client()
    skipped = [part.strip() for part in args.skip.split(",") if part.strip()]
    chosen = [page for page in pages(call_id) if page.name == "home" or not any(s in page.name for s in skipped)]
    results = [measure(app, clients, page, args.repeat, args.slow) for page in chosen]
    report(f"{dialect}, {n:,} applications (built in {built:.1f} s; computing and storing the match run: "
           f"{compute_seconds:.2f} s)", results)
    print(f"ranking board's next overdue moment (read per rendering): {time_next_overdue(app, call_id, args.repeat)}")
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    args = parse_arguments()
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as directory:
        instance = Path(directory)
        for n in args.lite_sizes:
            path = instance / f"bench-{n}.sqlite3"
            run_dataset(f"sqlite:///{path}", n, args, instance)
            path.unlink()
        if args.pg_sizes:
            with PostgresServer() as server:
                for n in args.pg_sizes:
                    url = server.create_database(f"bench_{n}")
                    run_dataset(url, n, args, instance)
                    drop_database(server.url(), f"bench_{n}")


if __name__ == "__main__":
    main()
