"""A small iCalendar (RFC 5545) writer: enough for read-only feeds of deadlines."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from incubator.services.calendars import CalendarEvent

# RFC 5545 3.3.11: TEXT may hold no control character but HTAB; a line break is written "\n".
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_OTHER_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _escape(text: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, every line break (CRLF, bare CR or
    LF) as backslash-n, other control characters removed; a bare CR would otherwise end the line
    for some parsers and let a company name inject its own properties into the feed."""
    text = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _OTHER_CONTROLS.sub("", _LINE_BREAK.sub("\\\\n", text))


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, current = [], b""
    for char in line:
        encoded = char.encode()
        if len(current) + len(encoded) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += encoded
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _stamp(value: dt.datetime | dt.date) -> str:
    if isinstance(value, dt.datetime):
        return "DTSTART:" + value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return "DTSTART;VALUE=DATE:" + value.strftime("%Y%m%d")


def render_calendar(name: str, events: Iterable[CalendarEvent], domain: str, now: dt.datetime) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Oslo Cancer Cluster//OCC Incubator residency//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH", f"X-WR-CALNAME:{_escape(name)}"]
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    for event in events:
        lines += ["BEGIN:VEVENT", f"UID:{event.uid}@{domain}", f"DTSTAMP:{stamp}", _stamp(event.starts),
                  f"SUMMARY:{_escape(event.summary)}"]
        if isinstance(event.starts, dt.datetime):
            lines.append("DURATION:PT0S")
        if event.description:
            lines.append(f"DESCRIPTION:{_escape(event.description)}")
        if event.url:
            lines.append(f"URL:{event.url}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
