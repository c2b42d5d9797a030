"""A per-call counter of changes to what the call's insights figures are computed from.

A stored snapshot of a call's figures (``models.insight_snapshots``) records the call's
``insights_version`` read before the figures were computed; it is stale as soon as the counter
moved. The same scheme as ``models.match_inputs`` (whose counter follows other inputs): the
counter moves in the same flush as the change, so it commits or rolls back with it, and figures
computed while another transaction changes an input end up stale, never wrongly current.

The inputs, and which calls they concern:

- applications (created, deleted, or a change of call, state, submission, withdrawal, decision)
  and their programme preferences (the partner scope): the application's call;
- assignments, submitted reviews (or reviews leaving that state) and their scores: the
  application's call;
- offers and residencies: the application's call;
- criteria added or removed: their call (names and scales are read live);
- a user's name (the reviewer table): every call.

Written through the ORM session, every path counts: a unit-of-work flush by the objects it
writes, an ORM bulk ``update()``/``delete()``/``insert()`` of one of these tables by moving
every call's counter. SQL sent past the ORM does not move it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from incubator.models.applications import Application, ProgrammePreference
from incubator.models.call_counters import bump_call_counter
from incubator.models.programmes import Call, Criterion
from incubator.models.residencies import Offer, Residency
from incubator.models.reviews import Assignment, Review, Score
from incubator.models.users import User

# What the figures read of an application; an edit of anything else (a company name, an
# answer) leaves them current.
APPLICATION_FIELDS = ("call_id", "state", "submitted_at", "withdrawn_at", "decided_at")
WATCHED_TABLES = frozenset(model.__table__ for model in (
    Application, ProgrammePreference, Assignment, Review, Score, Offer, Residency, Criterion, User))


def _now_and_before(instance: object, attribute: str) -> set[object]:
    """The attribute's value and, if this flush changes it, its previous value."""
    history = inspect(instance).attrs[attribute].history
    return {*history.added, *history.unchanged, *history.deleted} - {None}


def _ints(values: Iterable[object]) -> set[int]:
    return {value for value in values if isinstance(value, int)}


class _Touched:
    """The ids a flush touched, resolved to calls with at most two queries."""

    def __init__(self) -> None:
        self.every_call = False
        self.calls: set[int] = set()
        self.applications: set[int] = set()
        self.reviews: set[int] = set()

    def add(self, instance: object, *, edited: bool = False) -> None:
        """Note an object the flush inserts, deletes or (``edited``) updates."""
        if isinstance(instance, Application):
            if edited and not any(inspect(instance).attrs[name].history.has_changes() for name in APPLICATION_FIELDS):
                return
            self.calls |= _ints(_now_and_before(instance, "call_id"))
        elif isinstance(instance, Criterion):
            if not edited:
                self.calls |= _ints(_now_and_before(instance, "call_id"))
        elif isinstance(instance, Review):
            # Drafts count nowhere (a reviewer saving a draft leaves the figures current).
            if "submitted" in _now_and_before(instance, "state"):
                self.applications |= _ints(_now_and_before(instance, "application_id"))
        elif isinstance(instance, ProgrammePreference | Assignment | Offer | Residency):
            self.applications |= _ints(_now_and_before(instance, "application_id"))
        elif isinstance(instance, Score):
            self.reviews |= _ints(_now_and_before(instance, "review_id"))
        elif isinstance(instance, User):
            self.every_call |= edited and inspect(instance).attrs["name"].history.has_changes()

    def __bool__(self) -> bool:
        return self.every_call or bool(self.calls or self.applications or self.reviews)

    def resolve(self, session: Session) -> set[int] | None:
        """The calls touched (None: every call)."""
        if self.every_call:
            return None
        connection = session.connection()
        calls = set(self.calls)
        if self.applications:
            calls |= set(connection.scalars(select(Application.call_id)
                                            .where(Application.id.in_(sorted(self.applications)))))
        if self.reviews:
            calls |= set(connection.scalars(select(Application.call_id)
                                            .join(Review, Review.application_id == Application.id)
                                            .where(Review.id.in_(sorted(self.reviews)),
                                                   Review.state == "submitted")))
        return calls


def bump(session: Session, call_ids: Iterable[int] | None) -> None:
    """Move the counter of these calls (None: of every call); read by ``services.insights``."""
    bump_call_counter(session, Call.insights_version, call_ids)


@event.listens_for(Session, "after_flush")
def _count_flushed_changes(session: Session, _flush: UOWTransaction) -> None:
    touched = _Touched()
    for instance in (*session.new, *session.deleted):
        touched.add(instance)
    for instance in session.dirty:
        if session.is_modified(instance, include_collections=False):
            touched.add(instance, edited=True)
    if touched:
        bump(session, touched.resolve(session))


@event.listens_for(Session, "do_orm_execute")
def _count_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    if getattr(state.statement, "table", None) in WATCHED_TABLES:
        bump(state.session, None)
