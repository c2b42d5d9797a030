"""Per-call counters of changes to what the call's insights figures and its ranking board show.

``calls.insights_version``: a stored snapshot of a call's figures (``models.insight_snapshots``)
and of its normalised board (``models.normalised_scores``) records the counter read before the
figures were computed; it is stale as soon as the counter moved. ``calls.board_version``: the
ranking board's rendered pages are kept per call and version (``web.manage.ranking``), so a
page is served again only while nothing it shows has changed. The same scheme as
``models.match_inputs`` (whose counter follows other inputs): the counters move in the same
flush as the change, so they commit or roll back with it, and figures computed (or a page
rendered) while another transaction changes an input end up stale, never wrongly current.

The insights' inputs, and which calls they concern (each moves both counters):

- applications (created, deleted, or a change of call, state, submission, withdrawal, decision)
  and their programme preferences (the partner scope; the board's programme names): the
  application's call;
- assignments (their due moments too), submitted reviews (or reviews leaving that state) and
  their scores: the application's call;
- offers and residencies: the application's call;
- criteria added or removed: their call (names and scales are read live);
- a user's name (the reviewer table): every call.

What the board shows besides, moving ``board_version`` alone:

- an application's company name: the application's call;
- a programme's name (the rows name each application's programmes): every call.

Not counted, because the board reads them with the counter and keys its pages on the values
themselves (``services.ranking.board_heading``): the call's title and disagreement threshold,
which programmes it offers and their names, its criteria's names, weights, scales and
thresholds. The board's statistics (``models.application_scores``) and
normalised figures follow the inputs above. A slot's programme (the scope of an offer or a
residency in it) cannot change once it has offers or residents (``services.slots``).

Written through the ORM session, every path counts: a unit-of-work flush by the objects it
writes, an ORM bulk ``update()``/``delete()``/``insert()`` of one of these tables by moving
every call's counter. SQL sent past the ORM does not move them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from incubator.models.applications import Application, ProgrammePreference
from incubator.models.call_counters import bump_call_counters
from incubator.models.programmes import Call, Criterion, Programme
from incubator.models.residencies import Offer, Residency
from incubator.models.reviews import Assignment, Review, Score
from incubator.models.users import User

# What the figures read of an application; an edit of anything else (a company name, an
# answer) leaves them current.
APPLICATION_FIELDS = ("call_id", "state", "submitted_at", "withdrawn_at", "decided_at")
WATCHED_TABLES = frozenset(model.__table__ for model in (
    Application, ProgrammePreference, Assignment, Review, Score, Offer, Residency, Criterion, User))
# What the board shows besides: a bulk statement on these moves every call's board_version.
BOARD_TABLES = frozenset({Programme.__table__})


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
        # What only the board shows (its counter alone moves).
        self.every_board = False
        self.boards: set[int] = set()

    def add(self, instance: object, *, edited: bool = False) -> None:
        """Note an object the flush inserts, deletes or (``edited``) updates."""
        if isinstance(instance, Application):
            if edited and not any(inspect(instance).attrs[name].history.has_changes() for name in APPLICATION_FIELDS):
                if inspect(instance).attrs["company_name"].history.has_changes():
                    self.boards |= _ints(_now_and_before(instance, "call_id"))
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
        elif isinstance(instance, Programme):
            # A new programme is on no board yet; one in use cannot be deleted.
            self.every_board |= edited and inspect(instance).attrs["name"].history.has_changes()

    def __bool__(self) -> bool:
        return self.every_call or self.every_board or bool(self.calls or self.applications or self.reviews
                                                           or self.boards)

    def resolve(self, session: Session) -> tuple[set[int] | None, set[int] | None]:
        """The calls whose insights inputs were touched, and those whose board was (each None:
        every call). Every insights input is on the board too (or close enough: a reviewer's
        name is not, and is renamed rarely), so the second holds the first."""
        if self.every_call:
            return None, None
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
        return calls, None if self.every_board else calls | self.boards


def bump(session: Session, insights: Iterable[int] | None, boards: Iterable[int] | None) -> None:
    """Move ``insights_version`` of these calls and ``board_version`` of those (None: of every
    call), in one UPDATE; read by ``services.insights``, ``services.ranking`` and the board."""
    bump_call_counters(session, {Call.insights_version: None if insights is None else set(insights),
                                 Call.board_version: None if boards is None else set(boards)})


@event.listens_for(Session, "after_flush")
def _count_flushed_changes(session: Session, _flush: UOWTransaction) -> None:
    touched = _Touched()
    for instance in (*session.new, *session.deleted):
        touched.add(instance)
    for instance in session.dirty:
        if session.is_modified(instance, include_collections=False):
            touched.add(instance, edited=True)
    if touched:
        bump(session, *touched.resolve(session))


@event.listens_for(Session, "do_orm_execute")
def _count_bulk_changes(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if table in WATCHED_TABLES:
        bump(state.session, None, None)
    elif table in BOARD_TABLES:
        bump(state.session, (), None)
