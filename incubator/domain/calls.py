"""Rules about calls that need no database: the lifecycle, slugs, time zones, and which edits
of an opened call would invalidate work applicants have already done."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Collection
from functools import cache

# In order; each state moves only to the next one.
CALL_STATES = ("draft", "published", "closed", "reviewing", "deciding", "decided", "archived")
SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
SLUG_MAX_LENGTH = 80


def next_state(state: str) -> str | None:
    """The state a call moves to next, or None once archived."""
    index = CALL_STATES.index(state)
    return CALL_STATES[index + 1] if index + 1 < len(CALL_STATES) else None


def slug_problem(slug: str) -> str | None:
    if not slug:
        return "Give the call a web address name (slug)."
    if len(slug) > SLUG_MAX_LENGTH:
        return f"A slug has at most {SLUG_MAX_LENGTH} characters."
    if not SLUG_PATTERN.match(slug):
        return "Use lowercase letters, digits and single hyphens in the slug, like spring-intake-2027."
    return None


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_known_timezone(name: str) -> bool:
    """An IANA time zone name like Europe/Oslo (what the tz database calls it, case and all)."""
    return name in known_timezones()


def narrows_eligibility(before: Collection[str], after: Collection[str]) -> bool:
    """Whether a new list of eligible countries shuts out a company the old one let in.

    An empty list means "anywhere"; so going from empty to any list narrows, and a non-empty
    list narrows when it drops a country.
    """
    if not after:
        return False
    if not before:
        return True
    return not set(before) <= set(after)


def parse_countries(text: str) -> list[str]:
    """'no, se' -> ['NO', 'SE']: ISO codes separated by commas or spaces, kept in order, once each."""
    codes: list[str] = []
    for part in re.split(r"[\s,;]+", text.strip()):
        code = part.upper()
        if code and code not in codes:
            codes.append(code)
    return codes
