"""What a block of code sends to the database: one listener for every test that counts
statements or their bound parameters, instead of one hand-written per test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event

from incubator.extensions import db


@dataclass(frozen=True)
class Sent:
    statement: str
    parameters: Any
    executemany: bool

    @property
    def bound(self) -> int:
        """The most values one execution of it binds (an executemany counts per row)."""
        rows = self.parameters if self.executemany else [self.parameters]
        return max((len(row) for row in rows if isinstance(row, (list, tuple, dict))), default=0)


@contextmanager
def statements_sent(engine: Engine | None = None) -> Iterator[list[Sent]]:
    """Every statement sent through ``engine`` (the app's, by default) while inside."""
    engine = engine if engine is not None else db.engine
    sent: list[Sent] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        sent.append(Sent(statement, parameters, executemany))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", remember)
