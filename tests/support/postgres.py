"""Throwaway PostgreSQL server for tests (pytest plugin module).

Load it with ``pytest_plugins = ["tests.support.postgres"]`` (or
``-p tests.support.postgres``).  It starts one private PostgreSQL cluster per
test session from the machine's own binaries; nothing is installed or touched
outside a temporary directory.

Fixtures
--------
``postgresql_server`` (session) -> :class:`PostgresServer`
    The running server.  Use it to create more databases.
``postgresql_url`` (session) -> ``str``
    SQLAlchemy URL of an empty database ``test`` on that server, e.g.
    ``postgresql+psycopg://postgres@127.0.0.1:54321/test``.

Helpers (plain functions, usable with any URL produced here)
-------------------------------------------------------------
``fresh_database(base_url, name=None) -> str``
    ``CREATE DATABASE`` (dropping an existing one of that name first) and return
    its URL.  ``name=None`` picks a unique name.  ~20-30 ms on tmpfs.
``create_database_from_template(base_url, template_name, name=None) -> str``
    Clone ``template_name`` (e.g. a database on which the Alembic migrations
    already ran) into a new database and return its URL.  Much cheaper than
    running the migrations again for every test.  PostgreSQL refuses to clone
    a database that has open connections, so dispose of the engine that built
    the template first (``engine.dispose()``).
``drop_database(base_url, name) -> None``
    ``DROP DATABASE IF EXISTS ... WITH (FORCE)``.

Typical pattern for many isolated tests::

    @pytest.fixture(scope="session")
    def migrated_template(postgresql_url):
        url = fresh_database(postgresql_url, "app_template")
        run_alembic_upgrade(url)            # app-specific
        return "app_template"

    @pytest.fixture
    def db_url(postgresql_url, migrated_template):
        url = create_database_from_template(postgresql_url, migrated_template)
        yield url
        drop_database(postgresql_url, database_name(url))

``url_with_database(url, dbname)`` and ``database_name(url)`` are small URL
helpers; :class:`PostgresServer` can also be used directly (context manager)
outside pytest.

Binaries are looked up in ``$POSTGRES_BIN_DIR`` (if set), on ``PATH`` and in
``/usr/lib/postgresql/*/bin``; the highest version wins.  When none exist the
fixtures fail with the reason, so a run can never silently skip the database
tests; a developer without PostgreSQL may set ``TESTS_ALLOW_MISSING_SERVICES=1``
to skip instead (``make test`` never sets it).

Server details: listens on 127.0.0.1:<free port> and a unix socket in its own
directory, trust authentication, superuser ``postgres``, UTF8 with locale
``C.UTF-8`` (codepoint sort order, but upper()/lower() know ÆØÅ), timezone UTC,
fsync/synchronous_commit/full_page_writes off.  Its directory is created in
``$TEST_POSTGRES_DIR`` if set, else in /dev/shm when that has >= 1 GiB free
(CREATE DATABASE there is ~10x faster than on a busy disk), else in the temp
dir.  Clusters orphaned by a killed test run are removed on the next start.

PostgreSQL refuses to run as root.  When the tests run as root the server is
started as the ``postgres`` system user (or ``nobody``) and the temporary
directory is handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; "
    "install them with: apt-get install postgresql "
    "(or run scripts/ensure-test-system-packages.sh)"
)

SUPERUSER = "postgres"
DEFAULT_DATABASE = "test"
# Only use /dev/shm when it is a real RAM disk with room to spare (Docker's
# default 64 MB /dev/shm is too small for a cluster plus a few databases).
MIN_SHM_BYTES = 1 << 30
DIR_PREFIX = "pytest-pg-"
OWNER_PID_FILE = "owner.pid"  # pid of the test process, for reaping orphans

# Durability is pointless for a cluster that is deleted after the run; turning
# it off makes DDL-heavy work (migrations, CREATE DATABASE) several times faster.
SPEED_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "1h",
}


class PostgresNotAvailable(RuntimeError):
    """No usable PostgreSQL server binaries on this machine."""


# --------------------------------------------------------------------------
# Locating binaries
# --------------------------------------------------------------------------


def _version_of(bin_dir: Path) -> tuple[int, ...] | None:
    try:
        out = subprocess.run(
            [str(bin_dir / "pg_ctl"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d+(?:\.\d+)*)", out)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def find_postgres_bin_dir() -> Path:
    """Directory holding initdb/pg_ctl/postgres of the highest installed version."""
    candidates: list[Path] = []
    if override := os.environ.get("POSTGRES_BIN_DIR"):
        candidates.append(Path(override))
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry:
            candidates.append(Path(entry))
    candidates.extend(Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin"))

    seen: set[Path] = set()
    best: tuple[tuple[int, ...], Path] | None = None
    for directory in candidates:
        initdb = directory / "initdb"
        if not (initdb.is_file() and (directory / "pg_ctl").is_file()):
            continue
        # PATH entries are often symlinks into /usr/lib/postgresql/N/bin; pg_ctl
        # needs the directory that also holds the `postgres` executable.
        real = initdb.resolve().parent
        if real in seen or not (real / "postgres").is_file():
            continue
        seen.add(real)
        version = _version_of(real)
        if version is not None and (best is None or version > best[0]):
            best = (version, real)
    if best is None:
        raise PostgresNotAvailable(INSTALL_HINT)
    return best[1]


# --------------------------------------------------------------------------
# Running as an unprivileged user when we are root
# --------------------------------------------------------------------------


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The account to run the server as, or None if we may run it ourselves."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise PostgresNotAvailable(
        "running as root, but neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as"
    )


def _world_traversable(path: Path) -> bool:
    """True if every ancestor of ``path`` can be entered by any user."""
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _pick_parent_dir(owner: pwd.struct_passwd | None) -> Path:
    """Where to put the cluster: explicit override, else RAM, else the temp dir."""
    if override := os.environ.get("TEST_POSTGRES_DIR"):
        return Path(override)
    # Even with fsync=off, CREATE/DROP DATABASE on a busy disk took 250-400 ms
    # each here, against 20-30 ms on tmpfs; the cluster is small and thrown
    # away, so RAM is the right place whenever there is room.
    shm = Path("/dev/shm")
    try:
        st = os.statvfs(shm)
        if st.f_bavail * st.f_frsize >= MIN_SHM_BYTES and os.access(shm, os.W_OK):
            return shm
    except OSError:
        pass
    parent = Path(tempfile.gettempdir())
    # A root-only TMPDIR (e.g. under /root) would be unreachable for the
    # postgres user; /tmp is always world-traversable on Debian.
    if owner is not None and not _world_traversable(parent):
        parent = Path("/tmp")
    return parent


def _run_pg_tool(
    bin_dir: Path, owner: pwd.struct_passwd | None, cwd: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program from ``bin_dir``, as ``owner`` if given."""
    # Drop any PG* variables of the developer's shell so they cannot
    # redirect our tools to some other cluster.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"  # stable, untranslated messages for error reports
    kwargs: dict[str, Any] = {}
    if owner is not None:
        env["HOME"] = str(cwd)
        kwargs = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
        check=False,
        **kwargs,
    )


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to someone else
        return True
    return True


def _reap_orphans(parent: Path, bin_dir: Path, owner: pwd.struct_passwd | None) -> None:
    """Stop and delete clusters left behind by test runs that were killed.

    A SIGKILLed pytest (CI timeout, OOM, closed terminal) never runs fixture
    teardown, and with the data in /dev/shm every leftover cluster would keep
    holding RAM and a postmaster until reboot.
    """
    for base in parent.glob(f"{DIR_PREFIX}*"):
        try:
            owner_pid = int((base / OWNER_PID_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if _process_alive(owner_pid):
            continue
        data_dir = base / "data"
        if (data_dir / "postmaster.pid").exists():
            _run_pg_tool(bin_dir, owner, base, "pg_ctl", "stop", "-D", str(data_dir), "-m", "immediate")
        shutil.rmtree(base, ignore_errors=True)


def _make_base_dir(bin_dir: Path, owner: pwd.struct_passwd | None) -> Path:
    parent = _pick_parent_dir(owner)
    _reap_orphans(parent, bin_dir, owner)
    base = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=parent))
    (base / OWNER_PID_FILE).write_text(str(os.getpid()))
    if owner is not None:
        os.chown(base, owner.pw_uid, owner.pw_gid)
    return base


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------
# URL helpers
# --------------------------------------------------------------------------


def url_with_database(url: str, dbname: str) -> str:
    """Same server/user as ``url`` but pointing at database ``dbname``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _libpq_url(url: str) -> str:
    """SQLAlchemy URL -> libpq URI (psycopg does not understand '+psycopg')."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme="postgresql"))


def _admin_connect(base_url: str) -> psycopg.Connection[Any]:
    # CREATE/DROP DATABASE cannot run inside a transaction, hence autocommit;
    # connect to the maintenance DB so the target itself can be dropped.
    return psycopg.connect(_libpq_url(url_with_database(base_url, "postgres")), autocommit=True)


def _unique_name(prefix: str = "test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def _drop(conn: psycopg.Connection[Any], name: str) -> None:
    # FORCE (PostgreSQL 13+) terminates leftover sessions, e.g. a test's
    # un-disposed engine, instead of failing the drop.
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _create(conn: psycopg.Connection[Any], name: str, template: str) -> None:
    query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
    if conn.info.server_version >= 150000:
        # PostgreSQL 15's default WAL_LOG strategy writes every block to WAL;
        # FILE_COPY just copies the directory, which for small databases on
        # an fsync=off cluster is about twice as fast (measured: ~35 ms vs
        # ~75 ms per database).
        query = query + sql.SQL(" STRATEGY = FILE_COPY")
    conn.execute(query)


def drop_database(base_url: str, name: str) -> None:
    """Drop ``name`` if it exists, disconnecting any remaining sessions."""
    with _admin_connect(base_url) as conn:
        _drop(conn, name)


def fresh_database(base_url: str, name: str | None = None) -> str:
    """Create an empty database (replacing one of the same name); return its URL."""
    return create_database_from_template(base_url, "template1", name)


def create_database_from_template(base_url: str, template_name: str, name: str | None = None) -> str:
    """Clone ``template_name`` into a new database; return the new database's URL.

    ``name=None`` picks a unique name.  The template must have no open
    connections (PostgreSQL's rule), so dispose of SQLAlchemy engines pointing
    at it before calling this.
    """
    name = name or _unique_name()
    with _admin_connect(base_url) as conn:
        _drop(conn, name)
        _create(conn, name, template_name)
    return url_with_database(base_url, name)


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster in a temporary directory.

    Use as a context manager or call :meth:`start` / :meth:`stop`.
    """

    bin_dir: Path = field(default_factory=find_postgres_bin_dir)
    user: str = SUPERUSER
    port: int = 0
    base_dir: Path | None = None
    _owner: pwd.struct_passwd | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "sock"

    @property
    def log_file(self) -> Path:
        assert self.base_dir is not None, "server not started"
        return self.base_dir / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL for ``dbname`` on this server."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{dbname}"

    # -- lifecycle ---------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        assert self.base_dir is not None
        return _run_pg_tool(self.bin_dir, self._owner, self.base_dir, *args, timeout=timeout)

    def _initdb(self) -> None:
        # C.UTF-8 keeps sorting deterministic while upper()/lower() still
        # handle non-ASCII letters (æøå in Norwegian names); plain C does not.
        locale = (
            "C.UTF-8"
            if any(Path(p).is_dir() for p in ("/usr/lib/locale/C.utf8", "/usr/lib/locale/C.UTF-8"))
            else "C"
        )
        result = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            f"--locale={locale}",
            "--no-sync",
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def _write_config(self, port: int) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            **SPEED_SETTINGS,
        }
        # postgresql.auto.conf is read last, so these win over the defaults
        # in postgresql.conf without having to edit that file.
        with open(self.data_dir / "postgresql.auto.conf", "a", encoding="utf-8") as fh:
            for key, value in settings.items():
                fh.write(f"{key} = {value}\n")

    def start(self) -> PostgresServer:
        self._owner = _unprivileged_user()
        self.base_dir = _make_base_dir(self.bin_dir, self._owner)
        try:
            self.socket_dir.mkdir()
            if self._owner is not None:
                os.chown(self.socket_dir, self._owner.pw_uid, self._owner.pw_gid)
            self._initdb()
            self._start_on_free_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_on_free_port(self, attempts: int = 5) -> None:
        # A port found free may be taken by someone else before postgres binds
        # it; retrying with a fresh port makes that race harmless.
        last_error = ""
        for _ in range(attempts):
            port = self.port or _free_port()
            self._write_config(port)
            result = self._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
            )
            if result.returncode == 0:
                self.port = port
                return
            last_error = f"{result.stdout}\n{result.stderr}\n{self._log_tail()}"
            if self.port:  # caller asked for a specific port; don't hunt
                break
        raise RuntimeError(f"could not start PostgreSQL:\n{last_error}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (immediately; data is thrown away) and delete its files."""
        if self.base_dir is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- conveniences ------------------------------------------------------

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        base = self.url()
        if template:
            return create_database_from_template(base, template, name)
        return fresh_database(base, name)

    def drop_database(self, name: str) -> None:
        drop_database(self.url(), name)


# --------------------------------------------------------------------------
# pytest fixtures
# --------------------------------------------------------------------------


def _unavailable(message: str) -> NoReturn:
    # A missing database must be an error, never a quiet skip that makes the
    # whole DB-backed suite look green; skipping is an explicit developer opt-out.
    if os.environ.get("TESTS_ALLOW_MISSING_SERVICES") == "1":
        pytest.skip(message)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresNotAvailable as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgresql_url(postgresql_server: PostgresServer) -> str:
    return postgresql_server.create_database(DEFAULT_DATABASE)
