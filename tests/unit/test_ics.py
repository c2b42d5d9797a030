"""The calendar feed writer escapes every TEXT value as RFC 5545 requires."""

from __future__ import annotations

import datetime as dt

import pytest

from incubator.services.calendars import CalendarEvent
from incubator.web.notifications.ics import render_calendar

NOW = dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC)


def feed_of(summary: str, description: str = "") -> str:
    event = CalendarEvent(uid="review-1", starts=NOW, summary=summary, description=description, url=None)
    return render_calendar("Feed", [event], "incubator.example.org", NOW)


@pytest.mark.parametrize(("raw", "written"), [
    ("A\rB", "A\\nB"),
    ("A\r\nB", "A\\nB"),
    ("A\nB", "A\\nB"),
    ("A\x00B\x0bC\x1bD\x7fE", "ABCDE"),
    ("tab\tkept", "tab\tkept"),
    ("a;b,c\\d", "a\\;b\\,c\\\\d"),
])
def test_text_values_escape_line_breaks_and_drop_control_characters(raw: str, written: str) -> None:
    assert f"SUMMARY:Review due: {written}\r\n" in feed_of(f"Review due: {raw}")


def test_a_bare_carriage_return_cannot_inject_a_property() -> None:
    feed = feed_of("X\rATTACH:https://evil.example/x", "Y\rEND:VEVENT")
    lines = feed.split("\r\n")
    assert "\r" not in "".join(lines) and "\n" not in "".join(lines)
    assert not any(line.startswith("ATTACH") for line in lines)
    assert lines.count("END:VEVENT") == 1
