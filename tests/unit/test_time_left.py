"""The "N days left" beside a deadline counts the days a person really has."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from incubator import create_app
from incubator.web.templating import time_left

NOW = dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def request_context(tmp_path: Path) -> Iterator[None]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "INSTANCE_PATH": str(tmp_path)})
    with app.test_request_context():
        yield


@pytest.mark.parametrize(("remaining", "shown"), [
    (dt.timedelta(days=14), "14 days left"),
    (dt.timedelta(days=14) - dt.timedelta(seconds=1), "14 days left"),  # a 14-day offer, a second later
    (dt.timedelta(days=13, hours=13), "14 days left"),
    (dt.timedelta(days=13, hours=11), "13 days left"),
    (dt.timedelta(days=2, minutes=1), "2 days left"),
    (dt.timedelta(days=1, hours=23), "47 hours left"),
    (dt.timedelta(minutes=5), "5 minutes left"),
    (dt.timedelta(seconds=-1), "closed"),
])
def test_time_left_rounds_to_the_nearest_day(request_context, remaining: dt.timedelta, shown: str) -> None:
    assert time_left(NOW + remaining, NOW) == shown
