"""Time the insights dashboards' figures and reports at N applications on PostgreSQL.

    .venv/bin/python bench/bench_insights.py                  # 10,000 and 100,000 applications
    .venv/bin/python bench/bench_insights.py --sizes 1000     # a quick run

The dataset is bench_pages.py's (one call, N applications × 3 submitted reviews × 6 scores, 500
slots with offers and residencies). Each figure set is built inside a request context the way
the pages build it (SQL aggregates, SVG drawing, Babel formatting), without the HTTP layer, so
the figures' own cost is measured. Printed: median of --repeat runs and SQL statements per run.

A call's figures are stored (``services.insights.call_insights``): "call figures (page)" reads
the stored ones, as every visit does while nothing changed; "call figures, stale" first moves the
call's change counter, as any new review or decision does, so they are computed from the data.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_pages import add_residency_data, counting_statements  # noqa: E402
from bench_ranking import populate  # noqa: E402
from sqlalchemy import update  # noqa: E402

from incubator import create_app  # noqa: E402
from incubator.database import utcnow  # noqa: E402
from incubator.extensions import db  # noqa: E402
from incubator.models import Call  # noqa: E402
from incubator.services.report_files import pdf_report, xlsx_report  # noqa: E402
from incubator.web.manage.insights import call_figures, year_figures  # noqa: E402
from tests.support.postgres import PostgresServer, drop_database  # noqa: E402


def timed(job: Callable[[], Any], repeat: int, app: Any) -> tuple[float, int]:
    job()  # warm-up
    times, statements = [], 0
    for _ in range(repeat):
        with counting_statements(app) as counter:
            started = time.perf_counter()
            job()
            times.append(time.perf_counter() - started)
        statements = counter[0]
    return statistics.median(times), statements


def run(url: str, n: int, repeat: int, instance: Path) -> None:
    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "bench-only", "OUTBOX_DELIVERY": "manual",
                      "SQLALCHEMY_DATABASE_URI": url, "SERVER_NAME": "localhost"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        logging.getLogger("alembic").setLevel(logging.WARNING)
        call_id = populate(n, 2027)
        add_residency_data(call_id, n, 2027)
        db.session.commit()
    year = utcnow().year
    with app.test_request_context("/manage/insights", headers={"Accept-Language": "nb"}):
        call = db.session.get(Call, call_id)
        def computed_again() -> Any:
            # Move the call's counter, as any change to its applications or reviews does, so the
            # stored figures are stale and this run computes them from the data.
            db.session.execute(update(Call).where(Call.id == call_id).values(insights_version=Call.insights_version + 1))
            return call_figures(call, None)

        def year_after_a_change() -> Any:
            db.session.execute(update(Call).where(Call.id == call_id).values(insights_version=Call.insights_version + 1))
            return year_figures(year, None)

        jobs = {
            "call figures (page)": lambda: call_figures(call, None),
            "call figures, stale": computed_again,
            "call figures + PDF": lambda: pdf_report("Report", "", call_figures(call, None)),
            "year figures (page)": lambda: year_figures(year, None),
            "year figures + xlsx": lambda: xlsx_report("Report", year_figures(year, None)),
            "year figures, call stale": year_after_a_change,
        }
        print(f"\npostgresql, {n:,} applications")
        for name, job in jobs.items():
            median, statements = timed(job, repeat, app)
            print(f"  {name:<24} {median * 1000:8.1f} ms  {statements:3d} statements", flush=True)
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as directory, PostgresServer() as server:
        for n in [int(size) for size in args.sizes.split(",") if size.strip()]:
            run(server.create_database(f"insights_{n}"), n, args.repeat, Path(directory))
            drop_database(server.url(), f"insights_{n}")


if __name__ == "__main__":
    main()
