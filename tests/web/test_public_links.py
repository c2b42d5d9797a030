"""Links that leave the service come from PUBLIC_BASE_URL, never from the request's Host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator import create_app
from incubator.config import is_production_environment
from incubator.extensions import db
from incubator.links import PublicBaseUrlError, public_url
from incubator.models import OutboundEmail
from tests.conftest import base_config

PUBLIC = "https://incubator.example.org"


@pytest.fixture
def app_config() -> dict[str, Any]:
    # The Host header is what these tests vary; a CSRF cookie is bound to one host, so the
    # token check would refuse the foreign host for another reason and hide what is tested.
    return {"PUBLIC_BASE_URL": PUBLIC + "/", "WTF_CSRF_ENABLED": False}


def outbox_bodies() -> list[str]:
    return list(db.session.scalars(select(OutboundEmail.body_text)))


def test_reset_request_naming_a_foreign_host_is_refused_and_sends_nothing(client: FlaskClient, make_user) -> None:
    user = make_user()
    response = client.post("/password/forgot", data={"email": user.email}, base_url="http://evil.example")
    assert response.status_code == 400
    assert outbox_bodies() == []


def test_forwarded_host_is_ignored_without_a_proxy(client: FlaskClient, make_user) -> None:
    user = make_user()
    client.post("/password/forgot", data={"email": user.email}, headers={"X-Forwarded-Host": "evil.example"})
    [body] = outbox_bodies()
    assert "evil.example" not in body


def test_reset_link_starts_with_the_public_base_url(client: FlaskClient, make_user) -> None:
    user = make_user()
    response = client.post("/password/forgot", data={"email": user.email})  # Host: localhost, trusted
    assert response.status_code == 302
    [body] = outbox_bodies()
    assert f"{PUBLIC}/password/reset/" in body
    assert "localhost" not in body


def test_public_url_needs_no_request(app: Flask) -> None:
    # The scheduler process has no request: offer refills and digests are built like this.
    assert public_url("apply.offer", offer_id=7) == f"{PUBLIC}/offers/7"


def test_public_base_url_may_carry_a_path_prefix(tmp_path: Path) -> None:
    config = base_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    app = create_app({**config, "PUBLIC_BASE_URL": "https://example.org/incubator/"})
    with app.app_context():
        assert public_url("auth.login") == "https://example.org/incubator/login"


def test_trusted_hosts_come_from_the_public_url_server_name_and_extras(tmp_path: Path) -> None:
    config = base_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    app = create_app({**config, "PUBLIC_BASE_URL": PUBLIC, "EXTRA_TRUSTED_HOSTS": ["Internal.Example "]})
    assert app.config["TRUSTED_HOSTS"] == ["incubator.example.org", "internal.example", "localhost"]
    assert app.test_client().get("/login", base_url="http://internal.example").status_code == 200
    assert app.test_client().get("/login", base_url="http://other.example").status_code == 400


def test_production_start_up_refuses_a_missing_public_base_url(tmp_path: Path) -> None:
    config = base_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    with pytest.raises(PublicBaseUrlError, match="PUBLIC_BASE_URL is required in production"):
        create_app({**config, "PRODUCTION": True, "PUBLIC_BASE_URL": None})


@pytest.mark.parametrize("value", ["javascript:alert(1)", "incubator.example.org", "https://", "https://h/?q=1"])
def test_a_malformed_public_base_url_is_refused(tmp_path: Path, value: str) -> None:
    config = base_config(f"sqlite:///{tmp_path / 'x.sqlite3'}", tmp_path)
    with pytest.raises(PublicBaseUrlError):
        create_app({**config, "PUBLIC_BASE_URL": value})


@pytest.mark.parametrize(
    ("environment", "production"),
    [({}, False), ({"INCUBATOR_ENV": "production"}, True), ({"SECRET_KEY": "from-the-vault"}, True),
     ({"INCUBATOR_ENV": "development"}, False)],
)
def test_production_is_declared_or_implied_by_a_secret_key_in_the_environment(
        monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], production: bool) -> None:
    monkeypatch.delenv("INCUBATOR_ENV", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert is_production_environment() is production
