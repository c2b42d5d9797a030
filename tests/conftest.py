"""Fixtures the whole suite shares: an app per test on SQLite and on PostgreSQL, clients
logged in per role, factories, a real SMTP server and a real browser.

Database tests run twice, once per backend (``app`` is parametrised). The schema comes from
the Alembic migrations, applied once per backend per session; each test then starts from
empty tables.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from incubator import create_app
from incubator.domain.roles import Role
from incubator.extensions import db, limiter
from incubator.models import User
from incubator.services.passwords import hash_password

pytest_plugins = ["tests.support.postgres", "tests.support.smtp", "tests.support.browser", "tests.support.no_skips"]

PASSWORD = "correct horse battery staple"
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
    """Log in through the real form, CSRF token included."""
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


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
