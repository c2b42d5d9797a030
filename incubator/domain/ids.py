"""Row ids as people and browsers send them: text that may be anything.

Every id column is a 32-bit INTEGER, so a number beyond it is not an id of ours (PostgreSQL would
refuse to compare with it); ``str.isdigit`` also accepts "²" and "٣", which ``int`` does not read
the way a person means. One function reads an id for every layer.
"""

from __future__ import annotations

MAX_DATABASE_ID = 2**31 - 1


def as_row_id(text: str | None) -> int | None:
    """``text`` as a row id (ASCII digits, 1..MAX_DATABASE_ID), or None."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_DATABASE_ID else None
