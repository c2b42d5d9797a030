"""A per-call counter of changes to what a residency match depends on.

A stored match run (``models.match_runs``) records the call's ``match_inputs_version`` read
before its inputs were loaded; it is stale as soon as the counter moved. Reading one integer
keeps the match page's check constant-time, where fingerprinting the inputs meant aggregating
every application, review, slot, offer and residency of the call on each request.

The counter moves in the same flush as the change, so it commits or rolls back with it, and a
run computed while another transaction changes an input ends up stale, never wrongly current
(the writer's new version commits after the run read the old one). The inputs, and which calls
they concern:

- applications that are or were accepted or waitlisted, when what the match reads of them
  changes (decision, its release, the stay and space they ask for), and the programme preferences of those that are: the application's call;
- submitted reviews, or reviews leaving that state (the ranking): the application's call;
- slots, and which programmes a call offers: every call offering the programme;
- offers and residencies: the application's call and every call offering the slot's programme.

Written through the ORM session, every path counts: a unit-of-work flush by the objects it
writes, an ORM bulk ``update()``/``delete()``/``insert()`` of one of these tables by moving
every call's counter (such a statement does not say which calls it touches). SQL sent past
the ORM (a raw connection, another program) does not move it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from incubator.models.applications import Application, ProgrammePreference
from incubator.models.call_counters import bump_call_counter
from incubator.models.programmes import Call, CallProgramme, Slot
from incubator.models.residencies import Offer, Residency
from incubator.models.reviews import Review

MATCH_STATES = frozenset({"accepted", "waitlisted"})
# What the match reads of an application (``services.match_runs``); an edit of anything else
# (a company name, an answer) leaves runs current.
APPLICATION_FIELDS = ("call_id", "state", "decision_released_at", "space_type", "desired_start",
                      "desired_length_months", "submitted_at")
WATCHED_TABLES = frozenset(model.__table__ for model in
                           (Application, ProgrammePreference, Review, Slot, CallProgramme, Offer, Residency))


def _now_and_before(instance: object, attribute: str) -> set[object]:
    """The attribute's value and, if this flush changes it, its previous value."""
    history = inspect(instance).attrs[attribute].history
    return {*history.added, *history.unchanged, *history.deleted} - {None}


class _Touched:
    """The ids a flush touched, resolved to calls with at most two queries."""

    def __init__(self) -> None:
        self.calls: set[int] = set()
        self.applications: set[int] = set()
        self.deciding: set[int] = set()  # applications that count only if accepted or waitlisted
        self.programmes: set[int] = set()
        self.slots: set[int] = set()

    def add(self, instance: object, *, edited: bool = False, deleted: bool = False) -> None:
        """Note an object the flush inserts, (``edited``) updates or (``deleted``) deletes."""
        if isinstance(instance, Application):
            if edited and not any(inspect(instance).attrs[name].history.has_changes() for name in APPLICATION_FIELDS):
                return
            # A deleted application takes its reviews (the ranking) with it, whatever its state;
            # they cannot be traced to the call once it is gone.
            if deleted or _now_and_before(instance, "state") & MATCH_STATES:
                self.calls |= _ints(_now_and_before(instance, "call_id"))
        elif isinstance(instance, ProgrammePreference):
            self.deciding |= _ints(_now_and_before(instance, "application_id"))
        elif isinstance(instance, Review):
            if "submitted" in _now_and_before(instance, "state"):
                self.applications |= _ints(_now_and_before(instance, "application_id"))
        elif isinstance(instance, Slot):
            self.programmes |= _ints(_now_and_before(instance, "programme_id"))
        elif isinstance(instance, CallProgramme):
            self.calls |= _ints(_now_and_before(instance, "call_id"))
        elif isinstance(instance, Offer | Residency):
            self.applications |= _ints(_now_and_before(instance, "application_id"))
            self.slots |= _ints(_now_and_before(instance, "slot_id"))

    def resolve(self, session: Session) -> set[int]:
        connection = session.connection()
        calls = set(self.calls)
        if self.applications:
            calls |= set(connection.scalars(select(Application.call_id)
                                            .where(Application.id.in_(sorted(self.applications)))))
        if self.deciding:
            calls |= set(connection.scalars(select(Application.call_id).where(
                Application.id.in_(sorted(self.deciding)), Application.state.in_(sorted(MATCH_STATES)))))
        if self.slots:
            self.programmes |= set(connection.scalars(select(Slot.programme_id)
                                                      .where(Slot.id.in_(sorted(self.slots)))))
        if self.programmes:
            calls |= set(connection.scalars(select(CallProgramme.call_id)
                                            .where(CallProgramme.programme_id.in_(sorted(self.programmes)))))
        return calls


def _ints(values: Iterable[object]) -> set[int]:
    return {value for value in values if isinstance(value, int)}


def bump(session: Session, call_ids: Iterable[int] | None) -> None:
    """Move the counter of these calls (None: of every call); read by ``services.match_runs``."""
    bump_call_counter(session, Call.match_inputs_version, call_ids)


@event.listens_for(Session, "after_flush")
def _count_flushed_changes(session: Session, _flush: UOWTransaction) -> None:
    touched = _Touched()
    for instance in session.new:
        touched.add(instance)
    for instance in session.deleted:
        touched.add(instance, deleted=True)
    for instance in session.dirty:
        if session.is_modified(instance, include_collections=False):
            touched.add(instance, edited=True)
    if touched.calls or touched.applications or touched.deciding or touched.programmes or touched.slots:
        bump(session, touched.resolve(session))


@event.listens_for(Session, "do_orm_execute")
def _count_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if table in WATCHED_TABLES:
        bump(state.session, None)
