"""With Flask-Limiter switched off (``RATELIMIT_ENABLED=False``, e.g. when a proxy limits
requests), signing in still works and failed logins are still slowed: the failure throttle
keeps its counts in memory of its own instead of the limiter's absent storage."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from incubator.extensions import limiter
from tests.conftest import log_in


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"RATELIMIT_ENABLED": False, "LOGIN_FREE_FAILURES": 2}


def test_login_works_and_failures_are_still_slowed_without_the_rate_limiter(app: Flask, make_user,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # One limiter object serves every app of the test process and an earlier app started its
    # storage; in a process of its own with the limiter off there is none (POST /login was a 500).
    monkeypatch.setattr(limiter, "_storage", None)
    user, client = make_user(), app.test_client()
    assert log_in(client, user.email).status_code == 302
    stranger = app.test_client()
    answers = [log_in(stranger, user.email, "wrong password").status_code for _ in range(4)]
    assert answers[:3] == [400, 400, 400] and answers[3] == 429
    assert log_in(app.test_client(), "nobody@example.com", "x").status_code == 400
