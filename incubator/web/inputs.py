"""Hostile input stops at the edge with a 4xx and a reason, never a 500 deeper down.

- ``DatabaseIdConverter`` replaces Werkzeug's ``int`` converter in every URL rule: an id is
  1..2^31-1 in ASCII digits (what the INTEGER id columns hold), anything else is a 404.
- ``query_int`` is the one way a view reads a number from the query string; out of range or not
  a number answers 400 with a message.
- ``refuse_nul_bytes`` refuses a NUL anywhere in the path, query or form (PostgreSQL text cannot
  hold one, and no honest client sends one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask, request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map

from incubator.domain.ids import MAX_DATABASE_ID, as_row_id

# Every id column is INTEGER: PostgreSQL refuses a larger parameter with an error (a 500), so
# the bound is the column's, not Python's or SQLite's (2^63-1).
MAX_QUERY_NUMBER_DIGITS = 18  # keeps int() cheap; every bound a caller gives is far below it


class InputRefused(BadRequest):
    """A 400 whose description is a message for the person who sent the request."""

    def __init__(self, message: str) -> None:
        super().__init__(description=message)
        self.user_message = message


class DatabaseIdConverter(IntegerConverter):
    """``<int:...>`` in every rule: ASCII digits naming a possible row id, else no match (404).

    Werkzeug's own ``\\d+`` also matches other scripts' digits and numbers far beyond what the
    database accepts; both reached queries and answered 500 on PostgreSQL.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)


def parse_id(text: str) -> int | None:
    """``text`` as a row id (ASCII digits, 1..MAX_DATABASE_ID), or None."""
    return as_row_id(text)


def query_int(name: str, default: int, *, minimum: int = 1, maximum: int = MAX_DATABASE_ID) -> int:
    """The integer query parameter ``name`` (``default`` when absent or empty), or a 400."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise InputRefused(_("%(name)s must be a whole number.", name=name))
    # Too many digits is out of range too; checked first so int() never meets a huge string.
    value = int(raw) if len(raw) <= MAX_QUERY_NUMBER_DIGITS else None
    if value is None or not minimum <= value <= maximum:
        raise InputRefused(_("%(name)s must be between %(minimum)d and %(maximum)d.",
                             name=name, minimum=minimum, maximum=maximum))
    return value


def form_ids(name: str) -> list[int]:
    """Every value of a repeated form field of row ids (checkbox lists), or a 400."""
    ids = [parse_id(value) for value in request.form.getlist(name)]
    if None in ids:
        raise InputRefused(_("The selection was not understood; reload the page and try again."))
    return ids  # type: ignore[return-value]  # None was refused above


def _values(data: MultiDict[str, Any]) -> Iterable[str]:
    for key, value in data.items(multi=True):
        yield key
        if isinstance(value, str):
            yield value


def refuse_nul_bytes() -> None:
    """A NUL in any path, query or form value is refused before a view sees it."""
    pieces = [request.path, *_values(request.args)]
    if request.method in ("POST", "PUT", "PATCH"):
        pieces.extend(_values(request.form))
        pieces.extend(upload.filename or "" for _, upload in request.files.items(multi=True))
    if any("\x00" in piece for piece in pieces):
        raise InputRefused(_("The request contains a NUL character, which this service never accepts."))


def install_input_guards(app: Flask) -> None:
    """Register the id converter (before any rule is added) and the NUL guard."""
    app.url_map.converters["int"] = DatabaseIdConverter
    app.before_request(refuse_nul_bytes)
