"""Per-call change counters moved in the flush that changes what they watch.

``match_inputs`` (the stored match runs) and ``insight_inputs`` (the stored insights figures)
each watch their own models and move their own column of ``calls``; moving one is the same.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlalchemy.orm import InstrumentedAttribute, Session

from incubator.models.programmes import Call


def bump_call_counter(session: Session, counter: InstrumentedAttribute[int], call_ids: Iterable[int] | None) -> None:
    """Add one to ``counter`` of these calls (None: of every call)."""
    statement = update(Call).values({counter: counter + 1})
    if call_ids is not None:
        ids = sorted(set(call_ids))
        if not ids:
            return
        statement = statement.where(Call.id.in_(ids))
    # Core on the session's connection: no ORM events, and loaded Call objects stay as they are
    # (each counter is only ever read by a query).
    session.connection().execute(statement)
