"""Per-call change counters moved in the flush that changes what they watch.

``match_inputs`` (the stored match runs) and ``insight_inputs`` (the stored insights figures and
the ranking board's rendered pages) each watch their own models and move their own columns of
``calls``; moving them is the same, and several counters of one flush move in one UPDATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import case, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from incubator.models.programmes import Call


def bump_call_counter(session: Session, counter: InstrumentedAttribute[int], call_ids: Iterable[int] | None) -> None:
    """Add one to ``counter`` of these calls (None: of every call)."""
    bump_call_counters(session, {counter: None if call_ids is None else set(call_ids)})


def bump_call_counters(session: Session, counters: Mapping[InstrumentedAttribute[int], set[int] | None]) -> None:
    """Add one to each counter of its calls (None: of every call), all in one UPDATE: of the
    calls any counter names, each counter moving where its own calls are."""
    every = any(ids is None for ids in counters.values())
    touched = set().union(*(ids for ids in counters.values() if ids is not None))
    if not every and not touched:
        return
    values = {}
    for counter, ids in counters.items():
        if ids is None or (not every and ids == touched):
            values[counter] = counter + 1
        elif ids:
            values[counter] = counter + case((Call.id.in_(sorted(ids)), 1), else_=0)
    statement = update(Call).values(values)
    if not every:
        statement = statement.where(Call.id.in_(sorted(touched)))
    # Core on the session's connection: no ORM events, and loaded Call objects stay as they are
    # (each counter is only ever read by a query, or as a key read with the call).
    session.connection().execute(statement)
