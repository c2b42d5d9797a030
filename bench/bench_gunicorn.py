"""Requests per second under gunicorn (2 workers), against a bare Flask "hello" app in the same run.

Run from the repository root:

    .venv/bin/python bench/bench_gunicorn.py                        # 10,000 applications
    .venv/bin/python bench/bench_gunicorn.py --applications 100000 --duration 20
    .venv/bin/python bench/bench_gunicorn.py --threads 2            # both apps, 2 threads per worker

Builds a dataset on a throwaway PostgreSQL (``tests/support/postgres.py``; the data of
``bench_pages.py``: one call, N applications × 3 submitted reviews × 6 scores, slots, offers,
audit and outbox rows), starts the service exactly as deployed (``gunicorn -c
deploy/gunicorn.conf.py wsgi:app``: 2 workers, gthread, 4 threads each, preloaded) and a bare
Flask app answering "Hello" under gunicorn with the same workers and threads, signs in a reviewer
and a manager over HTTP (the manager with a real TOTP code, as two-factor sign-in requires), and
drives each URL with wrk (``apt-get install wrk``) for ``--duration`` seconds with ``--connections``
keep-alive connections. Prints requests per second per URL, the non-2xx count (must be 0 for the
figure to count), and each one's share of two baselines measured in the same run: the hello app,
and the same hello making the database round trips every signed-in page makes (a transaction
around two one-row reads, raw psycopg, no ORM): the ceiling for any page of the service here.
Targets (issue 15): the reviewer's list at least 20% of hello, the ranking board at least 5%. The
machine's two cores are shared by wrk, gunicorn and PostgreSQL, so absolute rates are modest; the
shares are the comparable part.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from a checkout
sys.path.insert(0, str(ROOT / "bench"))

import pyotp  # noqa: E402
import requests  # noqa: E402
from bench_pages import PASSWORD, add_residency_data, add_staff, settle  # noqa: E402
from bench_ranking import populate  # noqa: E402

from tests.support.postgres import PostgresServer  # noqa: E402

TOTP_SECRET = pyotp.random_base32()
# One browser signs in and then asks for the pages, so both send the same User-Agent: the sign-in
# records a digest of it (Flask-Login's session protection), and a different one on later requests
# marks the session not fresh and rewrites its cookie on every response, as no browser would see.
USER_AGENT = "bench-gunicorn/1"
HELLO_APP = '''from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello"
'''

# The same hello, but with the database round trips a signed-in page cannot do without: a
# transaction (BEGIN, COMMIT) around two statements (the session with its user, and the page's
# rows), each the cheapest there is, on one psycopg connection per thread and no ORM. No page of
# the service can be faster than this on the same machine; it is printed as a second baseline.
HELLO_DB_APP = '''import os
import threading

import psycopg
from flask import Flask

app = Flask(__name__)
connections = threading.local()


@app.get("/")
def hello():
    connection = getattr(connections, "connection", None)
    if connection is None:
        connection = connections.connection = psycopg.connect(os.environ["HELLO_DB_URL"])
    connection.execute("SELECT 1").fetchall()
    connection.execute("SELECT 1").fetchall()
    connection.commit()
    return "Hello"
'''


@dataclass(frozen=True)
class Load:
    name: str
    url: str
    cookie: str | None = None


@dataclass(frozen=True)
class Rate:
    load: Load
    requests_per_second: float
    non_2xx: int
    latency: str


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--applications", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per URL (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="wrk keep-alive connections (default 8)")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--threads", type=int, default=None,
                        help="gunicorn threads per worker for both apps (default: deploy/gunicorn.conf.py's)")
    return parser.parse_args()


def deployed_threads() -> int:
    """The threads deploy/gunicorn.conf.py gives each worker when GUNICORN_THREADS is not set."""
    match = re.search(r'GUNICORN_THREADS", "(\d+)"', (ROOT / "deploy" / "gunicorn.conf.py").read_text())
    if not match:
        raise SystemExit("deploy/gunicorn.conf.py: no GUNICORN_THREADS default found")
    return int(match.group(1))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def build_dataset(database_url: str, n: int, seed: int, instance: Path) -> tuple[int, dict[str, str]]:
    """The bench_pages dataset; the manager enrolled in two-factor sign-in with TOTP_SECRET."""
    from flask_migrate import upgrade

    from incubator import create_app
    from incubator.database import utcnow
    from incubator.extensions import db
    from incubator.models import User

    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": "bench-only", "OUTBOX_DELIVERY": "manual",
                      "SQLALCHEMY_DATABASE_URI": database_url, "FAST_PASSWORD_HASHING": True,
                      "SERVER_NAME": "localhost"})
    with app.app_context():
        upgrade()
        logging.getLogger("alembic").setLevel(logging.WARNING)
        call_id = populate(n, seed)
        add_residency_data(call_id, n, seed)
        emails = add_staff()
        manager = db.session.scalar(db.select(User).where(User.email == emails["manager"]))
        manager.totp_secret, manager.two_factor_enrolled_at = TOTP_SECRET, utcnow()
        db.session.commit()
        db.session.remove()
    settle(app)  # as bench_pages measures: the database as autovacuum leaves it after the build
    with app.app_context():
        db.engine.dispose()
    return call_id, emails


@contextlib.contextmanager
def gunicorn(arguments: list[str], port: int, environment: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as output:
        process = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), *arguments], cwd=cwd,
                                   env={**environment, "GUNICORN_BIND": f"127.0.0.1:{port}"},
                                   stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {process.returncode}; see {log}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{base}/", timeout=5)
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer within 60 s; see {log}")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _csrf_token(page: requests.Response) -> str:
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page.text)
    if not match:
        raise SystemExit(f"no CSRF token on {page.url} ({page.status_code})")
    return match.group(1)


def signed_in_cookie(base: str, email: str, totp_secret: str | None = None) -> str:
    """Sign in as a person does (password, then the code if the role needs one); the Cookie header."""
    with requests.Session() as browser:
        browser.headers["User-Agent"] = USER_AGENT
        login = browser.get(f"{base}/login", timeout=30)
        answer = browser.post(f"{base}/login", timeout=30, data={
            "email": email, "password": PASSWORD, "csrf_token": _csrf_token(login)})
        if "/login/code" in answer.url:
            if totp_secret is None:
                raise SystemExit(f"{email} is asked for a code")
            answer = browser.post(answer.url, timeout=30, data={
                "code": pyotp.TOTP(totp_secret).now(), "csrf_token": _csrf_token(answer)})
        if answer.status_code != 200 or "/login" in answer.url:
            raise SystemExit(f"could not sign in as {email}: {answer.status_code} at {answer.url}")
        return "; ".join(f"{name}={value}" for name, value in browser.cookies.items())


def drive(load: Load, duration: int, connections: int) -> Rate:
    """wrk on one URL; a first request checks it answers 200 (a redirect would measure the wrong page)."""
    headers = {"User-Agent": USER_AGENT, **({"Cookie": load.cookie} if load.cookie else {})}
    probe = requests.get(load.url, headers=headers, timeout=120, allow_redirects=False)
    if probe.status_code != 200:
        raise SystemExit(f"{load.name}: {load.url} answers {probe.status_code}")
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "30s",
               "-H", f"User-Agent: {USER_AGENT}"]
    if load.cookie:
        command += ["-H", f"Cookie: {load.cookie}"]
    output = subprocess.run([*command, load.url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    median = re.search(r"^\s*50%\s+(\S+)", output, re.MULTILINE)  # the distribution's line, not a "70.50%"
    return Rate(load, rps, int(non_2xx.group(1)) if non_2xx else 0, median.group(1) if median else "?")


def main() -> None:
    args = parse_arguments()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="bench-gunicorn-") as directory, PostgresServer() as server:
        workdir = Path(directory)
        database_url = server.create_database("bench_gunicorn")
        started = time.perf_counter()
        call_id, emails = build_dataset(database_url, args.applications, args.seed, workdir)
        print(f"PostgreSQL, {args.applications:,} applications, built in {time.perf_counter() - started:.0f} s")

        (workdir / "hello.py").write_text(HELLO_APP)
        threads = args.threads or deployed_threads()
        same_workers = ["--workers", "2", "--worker-class", "gthread", "--threads", str(threads)]
        environment = {name: value for name, value in os.environ.items()
                       if name not in ("PYTHONDONTWRITEBYTECODE", "PROMETHEUS_MULTIPROC_DIR")}
        environment["PYTHONPATH"] = str(ROOT)
        rates: list[Rate] = []
        port = free_port()
        with gunicorn(["--bind", f"127.0.0.1:{port}", *same_workers, "hello:app"], port, environment, workdir,
                      workdir / "hello.log") as base:
            rates.append(drive(Load("bare Flask hello", f"{base}/"), args.duration, args.connections))
        (workdir / "hello_db.py").write_text(HELLO_DB_APP)
        port = free_port()
        hello_db_environment = {**environment, "HELLO_DB_URL": database_url.replace("postgresql+psycopg://", "postgresql://")}
        with gunicorn(["--bind", f"127.0.0.1:{port}", *same_workers, "hello_db:app"], port, hello_db_environment,
                      workdir, workdir / "hello_db.log") as base:
            rates.append(drive(Load("hello + 2 reads in a tx", f"{base}/"), args.duration, args.connections))

        port = free_port()
        service_environment = {**environment, "DATABASE_URL": database_url, "SECRET_KEY": "bench-only",
                               "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", "OUTBOX_DELIVERY": "manual",
                               "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": str(threads)}
        with gunicorn(["-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "wsgi:app"], port, service_environment,
                      ROOT, workdir / "service.log") as base:
            reviewer = signed_in_cookie(base, emails["reviewer"])
            manager = signed_in_cookie(base, emails["manager"], TOTP_SECRET)
            for load in (Load("home page (anonymous)", f"{base}/"),
                         # No page: only what every signed-in request does first (its session,
                         # user and scope read and checked, the transaction, the log line).
                         Load("signed-in /healthz", f"{base}/healthz", reviewer),
                         Load("reviewer's list", f"{base}/review/", reviewer),
                         Load("ranking board", f"{base}/manage/calls/{call_id}/ranking", manager)):
                rates.append(drive(load, args.duration, args.connections))

    hello, hello_db = rates[0].requests_per_second, rates[1].requests_per_second
    print(f"gunicorn: 2 workers × {threads} threads; wrk: {args.connections} connections, {args.duration} s per URL; "
          f"load average {os.getloadavg()[0]:.1f}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'URL':<26}{'req/s':>10}{'median':>10}{'non-2xx':>9}{'of hello':>10}{'of hello+db':>13}")
    for rate in rates:
        print(f"{rate.load.name:<26}{rate.requests_per_second:>10.1f}{rate.latency:>10}{rate.non_2xx:>9}"
              f"{rate.requests_per_second / hello:>9.1%}{rate.requests_per_second / hello_db:>13.1%}")


if __name__ == "__main__":
    main()
