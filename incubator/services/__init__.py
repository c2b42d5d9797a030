"""State changes: one function each, the only code that writes. Services flush; callers commit."""

from __future__ import annotations

import datetime as dt

from babel.dates import format_date
from flask_babel import get_locale


def month_year(value: dt.date) -> str:
    """'March 2027' / 'mars 2027': a month in a refusal, in the reader's language."""
    return format_date(value, "LLLL y", locale=get_locale())


class ServiceError(Exception):
    """A state change refused for a reason the person can act on; the message says which."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
