"""Fixtures the whole suite shares: an app per test on SQLite and on PostgreSQL, clients
logged in per role, factories, a real SMTP server and a real browser.

Database tests run twice, once per backend (``app`` is parametrised). The schema comes from
the Alembic migrations, applied once per backend per session; each test then starts from
empty tables.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select, text

from incubator import create_app
from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db, limiter
from incubator.models import User
from incubator.services.passwords import hash_password

pytest_plugins = ["tests.support.url_rules", "tests.support.postgres", "tests.support.smtp", "tests.support.browser", "tests.support.redis",
                  "tests.support.s3", "tests.support.no_skips"]

PASSWORD = "correct horse battery staple"
# Staff in roles that must use two-factor sign-in are created enrolled with this secret;
# log_in() passes the code step with a real TOTP computed from it.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
TOTP_PERIOD = 30
BACKENDS = ["sqlite", "postgresql"]


def base_config(database_url: str, instance_path: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key-not-for-production",
        "INSTANCE_PATH": str(instance_path),
        "FAST_PASSWORD_HASHING": True,
        "OUTBOX_DELIVERY": "manual",
        "MAIL_SERVER": "",
        "SERVER_NAME": "localhost",
    }


def migrate_to_head(database_url: str, instance_path: Path) -> None:
    from flask_migrate import upgrade

    app = create_app(base_config(database_url, instance_path))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once; each test copies it."""
    directory = tmp_path_factory.mktemp("sqlite-template")
    path = directory / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}", directory)
    return path


@pytest.fixture(scope="session")
def postgresql_migrated(postgresql_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    migrate_to_head(postgresql_url, tmp_path_factory.mktemp("pg-instance"))
    return postgresql_url


def _empty_postgresql_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                     "AND tablename <> 'alembic_version'")
            )
        ]
        if tables:
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgresql_migrated")
        _empty_postgresql_tables(url)
        yield url


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Extra settings for a test module; override this fixture to change them."""
    return {}


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, as in production.

    The ``app`` fixture keeps an app context open for the test's own queries; without this,
    requests would share its ``g`` (cached CSRF tokens, the logged-in user) and its session.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        # Buffered: a streamed body (CSV exports) is read while its request's contexts are
        # still the innermost ones, as a server would, not after this app context ended.
        kwargs.setdefault("buffered", True)
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url: str, tmp_path: Path, app_config: dict[str, Any]) -> Iterator[Flask]:
    app = create_app({**base_config(database_url, tmp_path), **app_config})
    app.test_client_class = FreshContextClient
    with app.app_context():
        limiter.reset()  # the limiter's memory outlives an app; each test starts fresh
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_user(app: Flask) -> Callable[..., User]:
    counter = {"n": 0}

    def factory(role: Role = Role.APPLICANT, *, email: str | None = None, password: str = PASSWORD,
                name: str | None = None, **fields: Any) -> User:
        counter["n"] += 1
        if role in app.config["TWO_FACTOR_REQUIRED_ROLES"] and "totp_secret" not in fields:
            fields.update(totp_secret=TOTP_SECRET, two_factor_enrolled_at=utcnow())
        user = User(
            email=email or f"{role.value}{counter['n']}@example.org",
            name=name or f"{role.value.title()} {counter['n']}",
            role=role.value,
            password_hash=hash_password(password) if password else None,
            **fields,
        )
        db.session.add(user)
        db.session.commit()
        return user

    return factory


def log_in(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    """Log in through the real forms, CSRF token included; staff who must use a second factor
    pass the code step (and enrol first if they have not), as a person with the app would."""
    response = client.post("/login", data={"email": email, "password": password,
                                           "csrf_token": csrf_token(client, "/login")})
    target = urlsplit(response.headers.get("Location", "")).path if response.status_code == 302 else ""
    if target == "/account/two-factor/setup":
        enrol_second_factor(client)
        log_out(client)
        return log_in(client, email, password)
    if target == "/login/code":
        return pass_second_factor(client, email)
    return response


def _totp_state(client: FlaskClient, email: str) -> tuple[str, int | None]:
    with client.application.app_context():  # a fresh session sees what the requests committed
        row = db.session.execute(
            select(User.totp_secret, User.totp_last_step).where(User.email == email.strip().lower())
        ).one()
        return row.totp_secret, row.totp_last_step


def next_totp_step(last_used_step: int | None) -> int:
    """A time step the server accepts and has not seen yet: codes are refused within the
    window they were used in, so a test signing the same person in again may wait a little."""
    now = time.time()
    step = int(now // TOTP_PERIOD)
    # The step before is still accepted until the clock moves on; with less than 10 s left it
    # is not used, since a busy machine can take seconds between here and the server's check
    # (a 2 s margin failed a sign-in on a loaded 2-core machine).
    earliest = step - 1 if now % TOTP_PERIOD < TOTP_PERIOD - 10 else step
    chosen = max(earliest, (last_used_step or 0) + 1)
    if chosen > step + 1:
        time.sleep((chosen - 1) * TOTP_PERIOD - now + 0.1)
    return chosen


def totp_code(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * TOTP_PERIOD)


def fresh_totp_code(secret: str, last_used_step: int | None) -> str:
    return totp_code(secret, next_totp_step(last_used_step))


def pass_second_factor(client: FlaskClient, email: str) -> Any:
    secret, last_step = _totp_state(client, email)
    return client.post("/login/code", data={"code": fresh_totp_code(secret, last_step),
                                            "csrf_token": csrf_token(client, "/login/code")})


def enrol_second_factor(client: FlaskClient) -> Any:
    """Enrol from the set-up page: read the key shown there and answer with its current code."""
    page = client.get("/account/two-factor/setup").get_data(as_text=True)
    match = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page)
    assert match, "no TOTP key on the set-up page"
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    response = client.post("/account/two-factor/setup", data={
        "code": fresh_totp_code(match.group(1), None), "csrf_token": token.group(1)})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def log_out(client: FlaskClient) -> Any:
    return client.post("/logout", data={"csrf_token": csrf_token(client, "/password/change")})


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on ``path``, read the way a browser would."""
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def _client_for(app: Flask, make_user: Callable[..., User], role: Role) -> FlaskClient:
    user = make_user(role)
    client = app.test_client()
    response = log_in(client, user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def applicant_client(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    return _client_for(app, make_user, Role.APPLICANT)


@pytest.fixture
def reviewer_client(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    return _client_for(app, make_user, Role.REVIEWER)


@pytest.fixture
def manager_client(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    return _client_for(app, make_user, Role.MANAGER)


@pytest.fixture
def admin_client(app: Flask, make_user: Callable[..., User]) -> FlaskClient:
    return _client_for(app, make_user, Role.ADMIN)
