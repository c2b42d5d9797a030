"""Failed logins slow the failing address with growing delays; the owner elsewhere gets in."""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incubator.web.auth.throttle import delay_after
from tests.conftest import log_in

ATTACKER, OWNER = "203.0.113.9", "198.51.100.7"


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"LOGIN_FREE_FAILURES": 2}


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_delays_double_after_the_free_failures_up_to_the_cap() -> None:
    assert [delay_after(n, free=2, cap=10) for n in range(1, 9)] == [0, 0, 1, 2, 4, 8, 10, 10]
    assert delay_after(10**6, free=5, cap=900) == 900


def test_retry_after_grows_with_each_further_failure(app: Flask, make_user) -> None:
    user, client = make_user(), client_at(app, ATTACKER)
    for _ in range(3):  # two free, the third blocks for 1 s
        assert log_in(client, user.email, "wrong password").status_code == 400
    blocked = log_in(client, user.email, "wrong password")
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "1"
    assert "Too many failed attempts" in blocked.get_data(as_text=True)
    time.sleep(1.05)
    assert log_in(client, user.email, "wrong password").status_code == 400  # the fourth: 2 s
    blocked = log_in(client, user.email)  # even the right password waits
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "2"


def test_owner_at_another_address_gets_in_after_many_failures_elsewhere(app: Flask, make_user) -> None:
    user, attacker = make_user(), client_at(app, ATTACKER)
    answers = [log_in(attacker, user.email, "guess").status_code for _ in range(12)]
    assert answers.count(429) >= 9  # the attacker is slowed ...
    assert log_in(client_at(app, OWNER), user.email).status_code == 302  # ... the owner is not


def test_one_address_guessing_many_emails_is_slowed_too(app: Flask, make_user) -> None:
    client = client_at(app, ATTACKER)
    users = [make_user() for _ in range(21)]
    for user in users[:21]:  # one failure per email: no pair is blocked; the address allows 2 * 10
        assert log_in(client, user.email, "guess").status_code == 400
    assert log_in(client, users[0].email).status_code == 429
    assert log_in(client_at(app, OWNER), users[0].email).status_code == 302


def test_a_success_forgives_the_earlier_failures_of_that_email(app: Flask, make_user) -> None:
    user = make_user()
    for _ in range(2):
        assert log_in(client_at(app, OWNER), user.email, "typo").status_code == 400
    assert log_in(client_at(app, OWNER), user.email).status_code == 302
    # Without the reset this third failure in the window would block the next attempt.
    assert log_in(client_at(app, OWNER), user.email, "typo").status_code == 400
    assert log_in(client_at(app, OWNER), user.email).status_code == 302
