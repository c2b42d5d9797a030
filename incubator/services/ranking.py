"""The managers' ranking board: every application of a call with what its reviews say.

Reviewers are never named on the board: it is for managers only, and conflicted reviewers'
assignments and reviews are deleted when the conflict is recorded (services.conflicts).

Two ways to the same rows. The raw board reads ``application_scores`` (``models.application_scores``:
each application's statistics, kept current in the flush that changes a review): a page is
one ordered query with a limit plus the page's own details (progress, criterion means,
programmes, ranks), so it costs the same at 1,000 and 100,000 applications in rank order; the
CSV streams the same query in chunks. The normalised figures genuinely need every review of the
call (per-reviewer z-scores), so they are stored per call as a snapshot (``models.normalised_scores``),
computed again in one pass over the call's reviews only when the call's change counter has moved
since; the normalised board, its pages and its CSV then read the snapshot as the raw board reads
``application_scores`` (``_NormalisedBoard``). The definition both stored forms are tested against,
every board computed from the reviews themselves, is ``tests/support/ranking_reference.py``. The
committee view's normalised figure of one application needs neither (``normalised_of``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Double,
    Executable,
    Float,
    Integer,
    Row,
    Select,
    Text,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    not_,
    null,
    or_,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from incubator.database import utcnow
from incubator.domain.applications import ApplicationState
from incubator.domain.scoring import (
    EMPTY,
    EPSILON,
    Aggregate,
    AggregateColumns,
    CriterionRule,
    aggregate,
    aggregate_columns,
    normalised_array,
    normalised_one,
    threshold_failures,
    weighted_scale,
)
from incubator.extensions import db
from incubator.models import (
    Application,
    ApplicationScore,
    Assignment,
    Call,
    CallProgramme,
    Criterion,
    NormalisedScore,
    NormalisedSnapshot,
    Programme,
    ProgrammePreference,
    Review,
    User,
)
from incubator.services.audit import record_event
from incubator.services.id_sets import among, among_bound, ids_parameter
from incubator.services.paging import PageNumbers
from incubator.services.scope import application_scope_clause, current_scope

if TYPE_CHECKING:  # numpy itself loads inside the functions that compute
    import numpy as np

SORT_KEYS = ("rank", "company", "programmes", "state", "reviews", "mean", "median", "std", "range",
             "normalised", "flags", "submitted")
FLAGS = ("disagreement", "threshold", "overdue")
# Drafts are not applications yet; withdrawn ones are listed (filterable) but never ranked.
LISTED_STATES = tuple(state.value for state in ApplicationState if state is not ApplicationState.DRAFT)
RANKED_STATES = frozenset(LISTED_STATES) - {ApplicationState.WITHDRAWN.value}


class RankingError(ValueError):
    """An unknown sort column, flag or state asked of the board; the message names it."""


@dataclass(slots=True)
class RankingRow:
    application_id: int
    company_name: str
    state: str
    submitted_at: dt.datetime | None
    programmes: list[str] = field(default_factory=list)  # names, in the applicant's order of preference
    programme_ids: list[int] = field(default_factory=list)
    rank: int | None = None  # position in the whole call, whatever the filters; None = not ranked
    reviews_submitted: int = 0
    reviews_assigned: int = 0
    reviews_overdue: int = 0
    scores: Aggregate = EMPTY
    normalised: Aggregate | None = None
    criterion_means: dict[int, float] = field(default_factory=dict)
    threshold_failures: list[int] = field(default_factory=list)  # criterion ids, rubric order

    @property
    def disagreement(self) -> bool:
        return self.scores.disagreement

    @property
    def flag_count(self) -> int:
        """What the Flags column shows: disagreement and each criterion below its threshold."""
        return int(self.disagreement) + len(self.threshold_failures)

    def has_flag(self, flag: str) -> bool:
        if flag == "disagreement":
            return self.disagreement
        if flag == "threshold":
            return bool(self.threshold_failures)
        return self.reviews_overdue > 0


def criterion_rules(call: Call) -> list[CriterionRule]:
    """The call's rubric as plain rules for ``domain.scoring`` (one query if not yet loaded)."""
    return [
        CriterionRule(id=criterion.id, weight=criterion.weight, scale_min=criterion.scale_min,
                      scale_max=criterion.scale_max, step=criterion.step, threshold=criterion.threshold,
                      name=criterion.name)
        for criterion in call.criteria
    ]


def ranking_for_call(
    call: Call,
    *,
    normalised: bool = False,
    programme_id: int | None = None,
    state: str | None = None,
    flag: str | None = None,
    sort: str = "mean",
    descending: bool = True,
    all_criterion_means: bool = False,
    now: dt.datetime | None = None,
) -> list[RankingRow]:
    """The board's rows, all of them: ranked over the whole call, then filtered, then sorted.

    ``normalised`` adds per-reviewer normalised aggregates and ranks by their mean.
    ``all_criterion_means`` fetches every criterion's mean (the CSV); otherwise only the
    criteria with a threshold, which the flags need. Raises ``RankingError`` for an unknown
    ``sort``, ``flag`` or ``state``. A list of the whole call: pages use ``ranking_page``, the
    CSV ``ranking_chunks``.
    """
    options = BoardQuery.of(sort=sort, descending=descending, programme_id=programme_id, state=state, flag=flag,
                            normalised=normalised)
    return [row for chunk in ranking_chunks(call, options, all_criterion_means=all_criterion_means, now=now)
            for row in chunk]


def ranking_positions(call: Call) -> dict[int, int]:
    """Each ranked application's position in the call (1 = best), as on the board.

    The board's order alone, for the residency match: one index scan of the stored statistics
    (``models.application_scores``), unscoped, as the match is computed for the whole call.
    """
    ids = db.session.connection().scalars(
        select(ApplicationScore.application_id)
        .where(ApplicationScore.call_id == call.id, ApplicationScore.ranked == true())
        .order_by(*RANK_ORDER)
    ).all()
    return {application_id: position for position, application_id in enumerate(ids, start=1)}


# --- The board from the stored statistics ------------------------------------------------------------

Score_ = ApplicationScore  # short name for the many references below
RANK_ORDER = (Score_.negated_mean, Score_.submitted_at, Score_.application_id)  # = domain.scoring.rank


def _score_columns(scores: Any) -> tuple[Any, ...]:
    """The statistics a board row shows, from ``application_scores`` or an alias of it."""
    return (scores.ranked, scores.reviews_submitted, scores.mean, scores.median, scores.std, scores.minimum,
            scores.maximum, scores.criterion_means, scores.negated_mean, scores.submitted_at.label("scored_at"))


BOARD_COLUMNS = (Application.id, Application.company_name, Application.state, Application.submitted_at,
                 *_score_columns(Score_))


def _rank_key(values: Sequence[Any]) -> Any:
    """A row's place in the rank order as bound values, each typed as its column (the time
    goes through UTCDateTime, as stored)."""
    return tuple_(*[literal(value, type_=column.type) for column, value in zip(RANK_ORDER, values, strict=True)])


@dataclass(frozen=True)
class BoardQuery:
    """What the board is asked to show: sort column and direction, filters, normalised or not."""

    sort: str = "rank"
    descending: bool = False
    programme_id: int | None = None
    state: str | None = None
    flag: str | None = None
    normalised: bool = False

    @classmethod
    def of(cls, *, sort: str = "rank", descending: bool = False, programme_id: int | None = None,
           state: str | None = None, flag: str | None = None, normalised: bool = False) -> BoardQuery:
        """Checked options (``RankingError`` names a bad one); sorting by the normalised mean
        needs the normalised figures."""
        _check_options(sort=sort, flag=flag, state=state)
        return cls(sort, descending, programme_id, state, flag, normalised or sort == "normalised")

    @property
    def filtered(self) -> bool:
        return self.programme_id is not None or self.state is not None or self.flag is not None


@dataclass
class RankingPage(PageNumbers):
    """One page of the board, with what ``_pagination.html`` reads."""

    items: list[RankingRow]
    page: int
    pages: int
    total: int


def ranking_page(call: Call, options: BoardQuery, *, page: int, page_size: int,
                 now: dt.datetime | None = None) -> RankingPage:
    """The rows of one page of the board (page numbers beyond the last show the last).

    In rank order a page is read from ``ix_application_scores_rank`` with a limit (its ranks are
    positions when nothing is filtered); other sorts and filters order the call's rows in the
    database and read only the page, and ranks then come from one window over the call's
    ranked rows. The normalised board does the same over the call's stored normalised figures
    (``ix_normalised_scores_position``), computed again first if the call's reviews have changed.
    """
    board = _board_for(call, options, now or utcnow())
    total = board.count()
    pages = max(math.ceil(total / page_size), 1)
    number = min(max(page, 1), pages)
    rows = board.rows(offset=(number - 1) * page_size, limit=page_size)
    board.complete(rows, all_criterion_means=False)
    return RankingPage(rows, number, pages, total)


def ranking_count(call: Call, options: BoardQuery) -> int:
    """How many rows the board (or its CSV) lists with these options.

    Normalised, the snapshot is made current here too: the CSV's route counts in the request's
    transaction, which commits it, before its body streams in a session of its own."""
    return _board_for(call, options, utcnow()).count()


def ranking_chunks(call: Call, options: BoardQuery, *, all_criterion_means: bool = False,
                   now: dt.datetime | None = None, chunk_size: int | None = None) -> Iterator[list[RankingRow]]:
    """Every row of the board in order, a chunk at a time, from one streamed query: the CSV.

    Each chunk's details (progress, criterion means, programmes) are read for that chunk's ids
    alone, bound as one parameter. Normalised, from the call's stored normalised figures.
    """
    size = chunk_size or CSV_ROWS_PER_CHUNK
    board = _board_for(call, options, now or utcnow())
    for chunk in board.stream(size):
        board.complete(chunk, all_criterion_means=all_criterion_means)
        yield chunk


def _board_for(call: Call, options: BoardQuery, now: dt.datetime) -> _Board:
    """The raw board, or the normalised one over a current snapshot of the call's figures."""
    if not options.normalised:
        return _Board(call, options, now)
    current_normalised_snapshot(call)
    return _NormalisedBoard(call, options, now)


@dataclass(frozen=True)
class BoardHeading:
    """What the board shows of its call besides the rows, with the call's ``board_version``
    (which moves with every change to the rows): a rendering of the board is current while
    this and the options, scope and visitor are what they were (``web.manage.ranking``)."""

    call_id: int
    version: int
    title: str
    disagreement_threshold: Any
    programmes: tuple[tuple[int, str], ...]  # offered, in the call's order: (id, name)
    criteria: tuple[tuple[Any, ...], ...]  # in rubric order: id, name, weight, scale, step, threshold

    @property
    def offered(self) -> frozenset[int]:
        return frozenset(programme_id for programme_id, _ in self.programmes)


_call_programmes, _programmes, _criteria = CallProgramme.__table__, Programme.__table__, Criterion.__table__


def board_heading(call_id: int) -> BoardHeading | None:
    """The call's ``BoardHeading``, or None if there is no such call in this person's scope.

    One statement of plain columns (the call's row by its programmes by its criteria, a dozen
    rows), because every visit of the board reads it, also one served from a kept rendering:
    loading the call with its programmes and criteria as objects cost three times as much CPU,
    most of such a visit. The call is selected through the ORM, so a scoped manager finds only
    the calls of their programmes, as when loading it; its programmes and criteria as tables,
    unscoped, as the call's own parts."""
    rows = db.session.execute(
        select(Call.board_version, Call.title, Call.disagreement_threshold, _call_programmes.c.programme_id,
               _programmes.c.name, _criteria.c.id, _criteria.c.name, _criteria.c.weight, _criteria.c.scale_min,
               _criteria.c.scale_max, _criteria.c.step, _criteria.c.threshold)
        .select_from(Call)
        .outerjoin(_call_programmes, _call_programmes.c.call_id == Call.id)
        .outerjoin(_programmes, _programmes.c.id == _call_programmes.c.programme_id)
        .outerjoin(_criteria, _criteria.c.call_id == Call.id)
        .where(Call.id == call_id)
        .order_by(_call_programmes.c.position, _call_programmes.c.id, _criteria.c.position)).all()
    if not rows:
        return None
    programmes = tuple(dict.fromkeys((row[3], row[4]) for row in rows if row[3] is not None))
    # The criteria repeat per programme; the first programme's rows list them in rubric order.
    criteria = tuple(dict.fromkeys(tuple(row[5:]) for row in rows if row[5] is not None))
    return BoardHeading(call_id, rows[0][0], rows[0][1], rows[0][2], programmes, criteria)


# How many of a call's assignments due from now on ``next_overdue_moment`` reads at most.
DUE_WALK_LIMIT = 1_000


def next_overdue_moment(call: Call, now: dt.datetime) -> dt.datetime | None:
    """The next moment from ``now`` at which a "reviews overdue" count of the call's board may
    change without any write: the earliest due moment, from now on, of an assignment of the
    call without a submitted review (what ``_progress_query`` and ``_overdue`` count as late
    once it has passed). None: no open assignment will fall overdue.

    Reads the call's assignments due from now on in due order (``ix_assignments_due_at``), at
    most ``DUE_WALK_LIMIT`` of them: when every one of those is reviewed and more may follow,
    the last one's due moment is the answer (nothing after it is due sooner), so a call whose
    300,000 assignments are all reviewed ahead of their deadline reads a thousand, not all
    (85 ms at 100,000 applications on PostgreSQL). The whole call, whatever the scope or
    filters: a page that expires early costs one rendering, never a wrong one."""
    ahead = (select(Assignment.due_at, Assignment.application_id, Assignment.reviewer_id)
             .join(Application, Application.id == Assignment.application_id)
             .where(Assignment.due_at >= now, Application.call_id == call.id)
             .order_by(Assignment.due_at).limit(DUE_WALK_LIMIT).subquery("ahead"))
    submitted = exists().where(Review.application_id == ahead.c.application_id,
                               Review.reviewer_id == ahead.c.reviewer_id, Review.state == "submitted")
    first_open, last, count = _execute(select(func.min(case((not_(submitted), ahead.c.due_at))),
                                              func.max(ahead.c.due_at), func.count()).select_from(ahead))[0]
    if first_open is not None:
        return first_open  # type: ignore[no-any-return]
    return last if count == DUE_WALK_LIMIT else None


def rows_for_applications(call: Call, application_ids: Sequence[int]) -> dict[int, RankingRow]:
    """The board's rows of a few applications (a page of another list), with their ranks."""
    if not application_ids:
        return {}
    board = _Board(call, BoardQuery(), utcnow())
    rows = board.rows_of(application_ids)
    board.complete(rows, all_criterion_means=False)
    return {row.application_id: row for row in rows}


def ranking_row_of(application: Application) -> RankingRow | None:
    """One application's row of its call's board: its rank counted as the rows ahead of it
    plus one, without ranking the call."""
    board = _Board(application.call, BoardQuery(), utcnow())
    rows = board.rows_of([application.id], count_ahead=True)
    board.complete(rows, all_criterion_means=False)
    return rows[0] if rows else None


def normalised_of(application: Application) -> Aggregate:
    """The application's normalised aggregate (``domain.scoring.normalise_scores``) from its
    own reviews, its reviewers' statistics over the call and the call's, not every review:
    the call's mean and spread come from the stored per-application statistics (a sum over the
    call's scored applications, one row each), each reviewer's from their reviews in the call.
    Equal to the normalised board's figure up to float rounding (one-pass variances)."""
    call = application.call
    rules = criterion_rules(call)
    if not rules:
        return EMPTY
    score = cast(Review.weighted_score, Float)
    mine = _execute(select(Review.reviewer_id, score).where(
        Review.application_id == application.id, Review.state == "submitted", Review.weighted_score.is_not(None)))
    if not mine:
        return EMPTY
    total, sum_, squares = _execute(
        select(func.sum(Score_.reviews_submitted), func.sum(Score_.reviews_submitted * Score_.mean),
               func.sum(Score_.reviews_submitted * (Score_.std * Score_.std + Score_.mean * Score_.mean)))
        .where(Score_.call_id == call.id))[0]
    call_mean = sum_ / total
    call_std = math.sqrt(max(squares / total - call_mean * call_mean, 0.0))
    reviewers = {reviewer_id: (count, mean, math.sqrt(max(mean_square - mean * mean, 0.0)))
                 for reviewer_id, count, mean, mean_square in _execute(
                     select(Review.reviewer_id, func.count(), func.avg(score), func.avg(score * score))
                     .join(Application, Application.id == Review.application_id)
                     .where(Review.reviewer_id.in_([reviewer_id for reviewer_id, _ in mine]),
                            Application.call_id == call.id, Review.state == "submitted",
                            Review.weighted_score.is_not(None))
                     .group_by(Review.reviewer_id))}
    scale = weighted_scale(rules)
    corrected = [normalised_one(value, reviewers[reviewer_id], (call_mean, call_std), scale)
                 for reviewer_id, value in mine]
    return aggregate(corrected)


def _dialect() -> str:
    return db.session.get_bind().dialect.name


@cache
def _ranked_slice_statement(descending: bool) -> Select[Any]:
    """PostgreSQL's statement for ``_Board._ranked_slice`` unfiltered: the page's ids from the
    rank index alone, then each id's statistics row as a LATERAL lookup of the primary key.

    Joined plainly, PostgreSQL's default costs (a random page per lookup) chose to hash the
    call's whole statistics table for the page's 100 rows: 3.4 ms instead of 0.5 at 10,000
    applications, the page's dearest statement. LIMIT 1 keeps the lookup from being flattened
    back into that join; SQLite has no LATERAL (and loops over the ids anyway). Built once with
    bound parameters: aliasing the lateral row cost more than a millisecond a request.
    """
    keys = [key.desc() for key in RANK_ORDER] if descending else list(RANK_ORDER)
    ids = (select(Score_.application_id, *RANK_ORDER[:2])
           .where(Score_.call_id == bindparam("call_id"), Score_.ranked == true())
           .order_by(*keys).offset(bindparam("offset")).limit(bindparam("limit")).subquery())
    order = [ids.c.negated_mean, ids.c.submitted_at, ids.c.application_id]
    scores = aliased(Score_, select(Score_).where(Score_.application_id == ids.c.application_id)
                     .limit(1).lateral("scores"))
    return (select(Application.id, Application.company_name, Application.state, Application.submitted_at,
                   *_score_columns(scores)).select_from(ids)
            .join(scores, true())
            .join(Application, Application.id == ids.c.application_id)
            .order_by(*[key.desc() for key in order] if descending else order))


@cache
def _page_progress_statement(dialect: str) -> Select[Any]:
    """Review progress (assigned, overdue) of a page's ids (parameter ``ids``) at the time ``now``, built once."""
    return _progress_query(among_bound(Assignment.application_id, "ids", dialect), bindparam("now"))


@cache
def _page_programmes_statement(dialect: str) -> Select[Any]:
    """The programmes each of a page's ids (parameter ``ids``) ranked, built once."""
    return _programmes_query(among_bound(ProgrammePreference.application_id, "ids", dialect))


class _Board:
    """The SQL behind one view of the board (a call, its options, the time "overdue" uses)."""

    def __init__(self, call: Call, options: BoardQuery, now: dt.datetime) -> None:
        self.call, self.options, self.now = call, options, now
        threshold = call.disagreement_threshold
        # The same float comparison as domain.scoring.aggregate_many's flag.
        self.disagreement_limit = None if threshold is None else float(threshold) + EPSILON
        self.scope = application_scope_clause(Application.id)
        self.scoped = current_scope() is not None
        self.rules = criterion_rules(call)

    # -- what is listed

    def _conditions(self) -> list[ColumnElement[bool]]:
        options = self.options
        state = (Application.state == options.state if options.state is not None
                 else Application.state.in_(sorted(RANKED_STATES)))
        conditions = [Application.call_id == self.call.id, state, self.scope]
        if options.programme_id is not None:
            conditions.append(exists().where(ProgrammePreference.application_id == Application.id,
                                             ProgrammePreference.programme_id == options.programme_id))
        if options.flag == "disagreement":
            conditions.append(self._disagrees())
        elif options.flag == "threshold":
            conditions.append(Score_.below_threshold > 0)
        elif options.flag == "overdue":
            conditions.append(self._overdue())
        return conditions

    def _disagrees(self) -> ColumnElement[bool]:
        if self.disagreement_limit is None:
            return false()
        return Score_.std > self.disagreement_limit

    def _overdue(self) -> ColumnElement[bool]:
        submitted = exists().where(Review.application_id == Assignment.application_id,
                                   Review.reviewer_id == Assignment.reviewer_id, Review.state == "submitted")
        return exists().where(Assignment.application_id == Application.id, Assignment.due_at.is_not(None),
                              Assignment.due_at < self.now, not_(submitted))

    def _listed(self, *columns: Any) -> Select[Any]:
        return (select(*columns).select_from(Application)
                .outerjoin(Score_, Score_.application_id == Application.id).where(*self._conditions()))

    def count(self) -> int:
        return int(_execute(self._listed(func.count()))[0][0])

    def _ranked_count(self) -> int:
        if self.options.filtered or self.scoped:
            statement = self._listed(func.count()).where(*self._ranked_in_call())
        else:  # every stored ranked row of the call is listed: the index alone answers
            statement = select(func.count()).where(Score_.call_id == self.call.id, Score_.ranked == true())
        return int(_execute(statement)[0][0])

    # -- a page

    def rows(self, *, offset: int, limit: int) -> list[RankingRow]:
        if self.options.sort == "rank":
            return self._rank_page(offset, limit)
        found = self._sorted_slice(offset, limit)
        ranks = self._ranks_of([result.id for result in found if result.ranked])
        return [self._row(result, ranks.get(result.id)) for result in found]

    def _rank_page(self, offset: int, limit: int) -> list[RankingRow]:
        """Ranked rows in rank order (or its reverse), then the unranked ones by id."""
        descending = self.options.descending
        # How many ranked rows there are is needed only to number them from the end, or to
        # know where the unranked ones start; a page inside the ranked rows in rank order
        # (the usual view) skips counting them.
        ranked_total: int | None = self._ranked_count() if descending else None
        rows: list[RankingRow] = []
        if ranked_total is None or offset < ranked_total:
            found = self._ranked_slice(offset, limit)
            if ranked_total is None and len(found) < limit:
                ranked_total = offset + len(found) if found else self._ranked_count()
            positional = not self.options.filtered
            ranks = {} if positional else self._ranks_of([result.id for result in found])
            for number, result in enumerate(found):
                if not positional:
                    position = ranks.get(result.id)
                elif descending:
                    position = ranked_total - offset - number  # type: ignore[operator]  # counted above
                else:
                    position = offset + number + 1
                rows.append(self._row(result, position))
        if len(rows) < limit:
            assert ranked_total is not None  # a short ranked slice was counted
            unranked = (self._listed(*BOARD_COLUMNS).where(or_(Score_.ranked.is_(None), Score_.ranked == false()))
                        .order_by(Application.id).offset(max(offset - ranked_total, 0)).limit(limit - len(rows)))
            rows += [self._row(result, None) for result in _execute(unranked)]
        return rows

    def _ranked_slice(self, offset: int, limit: int) -> Sequence[Row[Any]]:
        """Ranked rows ``offset`` to ``offset + limit`` in rank order (or its reverse)."""
        keys = [key.desc() for key in RANK_ORDER] if self.options.descending else list(RANK_ORDER)
        if self.options.filtered or self.scoped:
            return _execute(self._listed(*BOARD_COLUMNS).where(*self._ranked_in_call())
                            .order_by(*keys).offset(offset).limit(limit))
        # The page's ids from the index alone, then their rows: the offset skips index
        # entries, not joined rows.
        ids = (select(Score_.application_id, *RANK_ORDER[:2])
               .where(Score_.call_id == self.call.id, Score_.ranked == true())
               .order_by(*keys).offset(offset).limit(limit).subquery())
        order = [ids.c.negated_mean, ids.c.submitted_at, ids.c.application_id]
        order = [key.desc() for key in order] if self.options.descending else order
        if _dialect() == "postgresql":
            return db.session.connection().execute(
                _ranked_slice_statement(self.options.descending),
                {"call_id": self.call.id, "offset": offset, "limit": limit}).all()
        return _execute(select(*BOARD_COLUMNS).select_from(ids)
                        .join(Score_, Score_.application_id == ids.c.application_id)
                        .join(Application, Application.id == ids.c.application_id)
                        .order_by(*order))

    def _ranked_in_call(self) -> tuple[ColumnElement[bool], ...]:
        """Ranked stored rows of this call, said of the scores' own columns: with the call on
        ``application_scores`` too (equal to the application's), a filtered board in rank order
        walks ``ix_application_scores_rank`` and stops at the page instead of sorting the call
        (at 100k on PostgreSQL, the board of one programme sorted 100,000 rows on disk)."""
        return Score_.call_id == self.call.id, Score_.ranked == true()

    def _rank_window(self) -> Any:
        """Every ranked row of the call (in this person's scope) with its position."""
        return (select(Score_.application_id, func.row_number().over(order_by=RANK_ORDER).label("rank"))
                .where(Score_.call_id == self.call.id, Score_.ranked == true(),
                       application_scope_clause(Score_.application_id))
                .subquery("ranks"))

    def _ranks_of(self, application_ids: Sequence[int]) -> dict[int, int]:
        """The ranks of these rows: in rank order, each one's count of ranked rows after the
        previous one up to itself, summed. Each count is a range of the rank index between two
        of the rows, so the ranges do not overlap and one statement reads the index once, up to
        the last of them, counting entries. Rows early in the order (a filtered board in rank
        order) read few entries; rows spread over the call (sorted by company) read it up to the
        last. Counting, not numbering every entry with a window and picking the rows out of it,
        is half the time at 100k on PostgreSQL (about 25 ms against 50, measured)."""
        if not application_ids:
            return {}
        in_order = {"order_by": RANK_ORDER}
        # The previous row's key (lag): the first row's lower bound is below every key (a mean of
        # minus infinity; the rest of the default only needs to be of the right type).
        page = (select(*RANK_ORDER,
                       func.lag(Score_.negated_mean, 1, literal(-math.inf, Double)).over(**in_order).label("previous_mean"),
                       func.lag(Score_.submitted_at, 1, Score_.submitted_at).over(**in_order).label("previous_at"),
                       func.lag(Score_.application_id, 1, Score_.application_id).over(**in_order).label("previous_id"))
                .where(among(Score_.application_id, application_ids), *self._ranked_in_call(),
                       application_scope_clause(Score_.application_id))
                .subquery("page"))
        ahead = aliased(ApplicationScore, name="ahead")
        key = tuple_(ahead.negated_mean, ahead.submitted_at, ahead.application_id)
        between = (select(func.count()).select_from(ahead)
                   .where(ahead.call_id == self.call.id, ahead.ranked == true(),
                          key <= tuple_(page.c.negated_mean, page.c.submitted_at, page.c.application_id),
                          key > tuple_(page.c.previous_mean, page.c.previous_at, page.c.previous_id),
                          application_scope_clause(ahead.application_id))
                   .scalar_subquery())
        counted = _execute(select(page.c.application_id, between)
                           .order_by(page.c.negated_mean, page.c.submitted_at, page.c.application_id))
        ranks: dict[int, int] = {}
        position = 0
        for application_id, count in counted:
            position += count
            ranks[application_id] = position
        return ranks

    def _sorted_slice(self, offset: int, limit: int) -> Sequence[Row[Any]]:
        """Rows ``offset`` to ``offset + limit`` of a board sorted by a column other than rank.

        The rows with a value for the column come first in either direction, so they are read
        alone, in the column's order (or its reverse), then as many of the rows without a value
        as the page has room for. One ORDER BY putting the missing ones last in both directions
        mixes ascending and descending keys, which no single index serves; read apart, sorted by
        company a page walks ``ix_applications_call_company_lower`` and stops at its rows (at
        100,000 applications on PostgreSQL the single statement sorted the whole call on disk).
        """
        missing = self._missing()
        if missing is None:
            return _execute(self._page_statement().offset(offset).limit(limit))
        found = list(_execute(self._page_statement(valued=True).offset(offset).limit(limit)))
        if len(found) < limit:
            if found or offset == 0:
                with_value = offset + len(found)
            else:  # the page starts past the rows with a value: how many there are
                with_value = int(_execute(self._listed(func.count()).where(not_(missing)))[0][0])
            found += _execute(self._page_statement(valued=False)
                              .offset(max(offset - with_value, 0)).limit(limit - len(found)))
        return found

    def _page_statement(self, valued: bool | None = None) -> Select[Any]:
        """A page's rows in the board's order (``_ordered``'s ``valued``), without ranks."""
        return self._ordered(with_rank=False, valued=valued)

    def _ordered(self, *, with_rank: bool = True, valued: bool | None = None) -> Select[Any]:
        """The listed rows (with their ranks), sorted by the chosen column, ties in rank order,
        rows without a value for it last, in rank order too (NULL and '' are both no company).
        ``valued`` lists only the rows with a value (True) or only those without (False)."""
        keys = self._sort_keys()
        missing = self._missing()
        if missing is not None and valued is None:  # one statement: the missing rows' keys ignored
            keys = [case((missing, None), else_=key) for key in keys]
        elif valued is False:
            keys = []
        direction = [key.desc() if self.options.descending else key for key in keys]
        rank_ties = [case((Score_.ranked.is_(True), 0), else_=1),
                     case((Score_.ranked.is_(True), Score_.negated_mean)),
                     case((Score_.ranked.is_(True), Score_.submitted_at)), Application.id]
        statement = self._listed(*BOARD_COLUMNS)
        if missing is not None and valued is not None:
            statement = statement.where(not_(missing) if valued else missing)
        elif missing is not None:
            statement = statement.order_by(case((missing, 1), else_=0))
        statement = statement.order_by(*direction, *rank_ties)
        if not with_rank:
            return statement
        window = self._rank_window()
        return statement.add_columns(window.c.rank).outerjoin(window, window.c.application_id == Application.id)

    def _sort_keys(self) -> list[Any]:
        sort = self.options.sort
        if sort == "rank":
            return []  # the tie-break order is the rank order
        if sort == "company":
            return [func.lower(Application.company_name)]
        if sort == "programmes":
            return [self._first_programme()]
        if sort == "state":
            return [Application.state]
        if sort == "reviews":
            assigned = (select(func.count()).select_from(Assignment)
                        .where(Assignment.application_id == Application.id).scalar_subquery())
            return [func.coalesce(Score_.reviews_submitted, 0), assigned]
        if sort == "range":
            return [Score_.maximum - Score_.minimum]
        if sort == "flags":
            disagrees = case((self._disagrees(), 1), else_=0)
            return [disagrees + func.coalesce(Score_.below_threshold, 0)]
        if sort == "submitted":
            return [Application.submitted_at]
        return [getattr(Score_, sort)]  # mean, median, std

    def _missing(self) -> ColumnElement[bool] | None:
        """Rows without a value for the sort column: last, whichever the direction."""
        sort = self.options.sort
        if sort == "company":
            return or_(Application.company_name.is_(None), Application.company_name == "")
        if sort == "programmes":
            return self._first_programme().is_(None)
        if sort in ("mean", "median", "std", "range"):
            return Score_.application_id.is_(None)
        if sort == "submitted":
            return Application.submitted_at.is_(None)
        return None

    def _first_programme(self) -> Any:
        return (select(func.lower(Programme.name)).select_from(ProgrammePreference)
                .join(Programme, Programme.id == ProgrammePreference.programme_id)
                .where(ProgrammePreference.application_id == Application.id)
                .order_by(ProgrammePreference.rank).limit(1).scalar_subquery())

    # -- a stream, a few rows

    def stream(self, size: int) -> Iterator[list[RankingRow]]:
        """Every listed row in the board's order, ``size`` at a time, from a server-side cursor."""
        if self.options.sort == "rank":
            statement = self._ordered()  # rank ties are the whole order, ranks from the window
            if self.options.descending:
                statement = statement.order_by(None).order_by(
                    case((Score_.ranked.is_(True), 0), else_=1),
                    *[case((Score_.ranked.is_(True), key)).desc() for key in RANK_ORDER], Application.id)
        else:
            statement = self._ordered()
        # On the statement, not the connection: Connection.execution_options() changes the
        # connection itself, and every later query of the request would use a server-side cursor.
        result = db.session.connection().execute(statement.execution_options(yield_per=size))
        for partition in result.partitions():
            yield [self._row(row, row.rank) for row in partition]

    def rows_of(self, application_ids: Sequence[int], *, count_ahead: bool = False) -> list[RankingRow]:
        """The rows of these applications (listed or not, so a withdrawn one still shows)."""
        statement = (select(*BOARD_COLUMNS).select_from(Application)
                     .outerjoin(Score_, Score_.application_id == Application.id)
                     .where(Application.call_id == self.call.id, among(Application.id, application_ids), self.scope))
        found = _execute(statement)
        if count_ahead:
            ranks = {result.id: self._count_ahead((result.negated_mean, result.scored_at, result.id))
                     for result in found if result.ranked}
        else:
            ranks = self._ranks_of([result.id for result in found if result.ranked])
        return [self._row(result, ranks.get(result.id)) for result in found]

    def _count_ahead(self, key: Sequence[Any]) -> int:
        """1 + the ranked rows ahead of this key: a range of the rank index, no window."""
        statement = (select(func.count()).select_from(Score_)
                     .where(Score_.call_id == self.call.id, Score_.ranked == true(), tuple_(*RANK_ORDER) < _rank_key(key),
                            application_scope_clause(Score_.application_id)))
        return int(_execute(statement)[0][0]) + 1

    # -- rows

    def _row(self, result: Row[Any], rank: int | None) -> RankingRow:
        row = RankingRow(result.id, result.company_name or "", result.state, result.submitted_at, [], [])
        if result.reviews_submitted:
            flagged = self.disagreement_limit is not None and result.std > self.disagreement_limit
            row.scores = Aggregate(result.reviews_submitted, result.mean, result.median, result.std,
                                   result.minimum, result.maximum, flagged)
            row.reviews_submitted = result.reviews_submitted
            row.rank = rank if result.ranked else None
        if result.criterion_means:
            row.criterion_means = {int(key): value for key, value in result.criterion_means.items()}
        return row

    def complete(self, rows: Sequence[RankingRow], *, all_criterion_means: bool) -> None:
        """Progress and programmes of these rows, read for their ids alone, and their criterion
        means (the thresholds'; every criterion's for the CSV) with the flags those raise."""
        if not rows:
            return
        by_id = {row.application_id: row for row in rows}
        dialect = _dialect()
        # Statements built once (putting them together per page cost about as much as running
        # them).
        connection, ids = db.session.connection(), ids_parameter(by_id, dialect)
        _take_progress(by_id, connection.execute(_page_progress_statement(dialect), {"ids": ids, "now": self.now}))
        _take_programmes(by_id, connection.execute(_page_programmes_statement(dialect), {"ids": ids}))
        # Criterion means are stored with the statistics; the board shows the thresholds' only.
        wanted = {rule.id for rule in self.rules if all_criterion_means or rule.threshold is not None}
        with_threshold = [rule for rule in self.rules if rule.threshold is not None]
        for row in rows:
            row.criterion_means = {key: value for key, value in row.criterion_means.items() if key in wanted}
            if with_threshold and row.criterion_means:
                row.threshold_failures = threshold_failures(with_threshold, row.criterion_means)


# --- The normalised board from its stored snapshot ---------------------------------------------------

Norm = NormalisedScore
RANK_ORDER_NORMALISED = (Norm.negated_mean, Norm.submitted_at, Norm.application_id)  # = rank(..., normalised=True)
NORMALISED_COLUMNS = (*BOARD_COLUMNS, Norm.position.label("n_position"), Norm.reviews.label("n_reviews"),
                      Norm.mean.label("n_mean"), Norm.median.label("n_median"), Norm.std.label("n_std"),
                      Norm.minimum.label("n_minimum"), Norm.maximum.label("n_maximum"))


def current_normalised_snapshot(call: Call) -> None:
    """Make the call's stored normalised figures (``models.normalised_scores``) current.

    Two reads when the call's change counter has not moved since they were computed; otherwise
    the whole call is computed again and its rows replaced, in the request's transaction (the
    request commits it)."""
    if _snapshot_version(call.id) == _inputs_version(call.id):
        return
    _recompute_snapshot(call)


def _inputs_version(call_id: int) -> int:
    return db.session.connection().scalar(select(Call.insights_version).where(Call.id == call_id)) or 0


def _snapshot_version(call_id: int, *, lock: bool = False) -> int | None:
    statement = select(NormalisedSnapshot.inputs_version).where(NormalisedSnapshot.call_id == call_id)
    return db.session.connection().scalar(statement.with_for_update() if lock else statement)


def _recompute_snapshot(call: Call) -> None:
    """Replace the call's normalised rows, once however many requests find them stale together.

    The snapshot row is created if missing (ON CONFLICT DO NOTHING: a concurrent creator makes
    this wait for its commit, not fail) and locked; a request that waited finds the version it
    reads after the lock already stored and computes nothing. The counter is read after the
    lock and before the reviews: a review committed meanwhile leaves the snapshot stale (computed
    again next time), never wrongly current. SQLite has one writer at a time and no row locks."""
    connection = db.session.connection()
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    connection.execute(dialect_insert(NormalisedSnapshot)
                       .values(call_id=call.id, inputs_version=-1, computed_at=utcnow())
                       .on_conflict_do_nothing(index_elements=[NormalisedSnapshot.call_id]))
    stored = _snapshot_version(call.id, lock=True)
    version = _inputs_version(call.id)
    if stored == version:
        return
    figures = normalised_columns(call)
    connection.execute(delete(Norm).where(Norm.call_id == call.id))
    if figures.application_ids.size:
        _insert_normalised(connection, call.id, figures)
    connection.execute(update(NormalisedSnapshot).where(NormalisedSnapshot.call_id == call.id)
                       .values(inputs_version=version, computed_at=utcnow()))


def normalised_columns(call: Call) -> AggregateColumns:
    """Every application's normalised aggregate as arrays, from every submitted review of the
    call at once (numpy): the figures of ``tests/support/ranking_reference.py``."""
    rules = criterion_rules(call)
    application_ids, reviewer_ids, scores = _reviews_as_arrays(call.id)
    corrected = normalised_array(reviewer_ids, scores, weighted_scale(rules)) if rules else scores
    return aggregate_columns(application_ids, corrected)


def _reviews_as_arrays(call_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_submitted_reviews``; on PostgreSQL as three arrays in one row (``array_agg``), which
    reads 300,000 reviews in a quarter of the time of as many rows."""
    if db.session.connection().dialect.name != "postgresql":
        return _submitted_reviews(call_id)
    import numpy as np
    application_ids, reviewer_ids, scores = _execute(
        select(func.array_agg(Review.application_id), func.array_agg(Review.reviewer_id),
               func.array_agg(cast(Review.weighted_score, Float)))
        .where(_in_call(Review.application_id, call_id), Review.state == "submitted",
               Review.weighted_score.is_not(None)))[0]
    return (np.asarray(application_ids or [], dtype=np.int64), np.asarray(reviewer_ids or [], dtype=np.int64),
            np.asarray(scores or [], dtype=np.float64))


FIGURE_COLUMNS = ("application_id", "reviews", "mean", "median", "std", "minimum", "maximum")


def _insert_normalised(connection: Connection, call_id: int, figures: AggregateColumns) -> None:
    """One statement: the figures joined to the call's listed applications for their state and
    submission time (whether ranked, and the rank's tie-break), inserted by the database.

    PostgreSQL takes the figures as one array per column (``unnest``), sending 100,000 rows
    as seven parameters; SQLite, in process, runs the same INSERT ... SELECT as an executemany.
    """
    arrays = (figures.application_ids, figures.counts, figures.means, figures.medians, figures.stds,
              figures.minima, figures.maxima)
    if connection.dialect.name == "postgresql":
        # Each array as one text literal ('{1,2,3}'): psycopg adapting a list of 100,000 floats
        # took 1.3 s, the join below 20 ms. repr() is the shortest text that reads back as the
        # same double, so the stored figures are exactly the computed ones.
        types = (Integer, Integer, Double, Double, Double, Double, Double)
        source: Any = func.unnest(*[
            cast(bindparam(name, "{" + ",".join(map(repr, array.tolist())) + "}", type_=Text), ARRAY(type_))
            for name, array, type_ in zip(FIGURE_COLUMNS, arrays, types, strict=True)
        ]).table_valued(*FIGURE_COLUMNS).render_derived(name="figures")
        columns, parameters = source.c, None
    else:
        columns = SimpleNamespace(**{name: bindparam(name) for name in FIGURE_COLUMNS})
        parameters = [dict(zip(FIGURE_COLUMNS, row, strict=True))
                      for row in zip(*(array.tolist() for array in arrays), strict=True)]
    # Listed: every state but draft; ranked: neither draft nor withdrawn. Inequalities, not IN
    # lists, which an executemany cannot expand.
    listed = Application.state != ApplicationState.DRAFT.value
    ranked = and_(listed, Application.state != ApplicationState.WITHDRAWN.value)
    # The position, numbered in the same statement on PostgreSQL (domain.scoring.rank's order);
    # an executemany sees one row at a time, so SQLite numbers them in a second statement.
    position = (case((ranked, func.row_number().over(
        partition_by=ranked, order_by=(-columns.mean, Application.submitted_at, Application.id))))
        if parameters is None else null())
    query = (select(literal(call_id), Application.id, ranked, Application.submitted_at, columns.reviews,
                    columns.mean, -columns.mean, columns.median, columns.std, columns.minimum, columns.maximum,
                    position)
             .where(Application.id == columns.application_id, Application.call_id == call_id, listed))
    statement = insert(Norm).from_select(
        ["call_id", "application_id", "ranked", "submitted_at", "reviews", "mean", "negated_mean", "median", "std",
         "minimum", "maximum", "position"], query)
    if parameters is None:
        connection.execute(statement)
        return
    connection.execute(statement, parameters)
    numbered = (select(Norm.application_id, func.row_number().over(order_by=RANK_ORDER_NORMALISED).label("position"))
                .where(Norm.call_id == call_id, Norm.ranked == true()).subquery())
    connection.execute(update(Norm).where(Norm.call_id == call_id, Norm.application_id == numbered.c.application_id)
                       .values(position=numbered.c.position))


class _NormalisedBoard(_Board):
    """The board ranked by the call's stored normalised figures: the raw board's filters and
    sort columns (``_Board``), with the rank order, the ranks and the normalised column read
    from ``normalised_scores``. The caller makes the snapshot current first (``_board_for``)."""

    def _listed(self, *columns: Any) -> Select[Any]:
        return super()._listed(*columns).outerjoin(
            Norm, and_(Norm.call_id == self.call.id, Norm.application_id == Application.id))

    def _sort_keys(self) -> list[Any]:
        if self.options.sort == "normalised":
            return [Norm.mean]
        return super()._sort_keys()

    def _missing(self) -> ColumnElement[bool] | None:
        if self.options.sort == "normalised":
            return Norm.application_id.is_(None)
        return super()._missing()

    def _order(self) -> list[Any]:
        """The listed rows' order: by the sort column, ties (and the rank sort) in the
        normalised rank order, rows without a rank last by id."""
        unranked_last = case((Norm.position.is_(None), 1), else_=0)
        if self.options.sort == "rank":
            return [unranked_last, Norm.position.desc() if self.options.descending else Norm.position, Application.id]
        return self._column_order()

    def _column_order(self, valued: bool | None = None) -> list[Any]:
        """Sorted by a column: rows with a value by it, ties in normalised rank order, then the
        rows without one in rank order (NULL and '' are both no company: their keys are
        ignored). ``valued`` orders only the rows with a value (True) or without (False), as
        ``_sorted_slice`` reads them apart."""
        unranked_last = case((Norm.position.is_(None), 1), else_=0)
        keys = self._sort_keys()
        missing = self._missing()
        if missing is not None and valued is None:
            keys = [case((missing, None), else_=key) for key in keys]
        elif valued is False:
            keys = []
        direction = [key.desc() if self.options.descending else key for key in keys]
        return [*([] if missing is None or valued is not None else [case((missing, 1), else_=0)]), *direction,
                unranked_last, Norm.position, Application.id]

    def _page_statement(self, valued: bool | None = None) -> Select[Any]:
        """With the stored normalised figures; their positions give the ranks. Read apart
        (``valued``), a page sorted by company walks ``ix_applications_call_company_lower`` and
        stops at its rows, as the raw board's does, instead of sorting the call."""
        statement = self._listed(*NORMALISED_COLUMNS)
        missing = self._missing()
        if missing is not None and valued is not None:
            statement = statement.where(not_(missing) if valued else missing)
        return statement.order_by(*(self._order() if valued is None else self._column_order(valued)))

    def _ranked_count(self) -> int:
        """The call's ranked rows: the highest position, from the end of the index."""
        return int(_execute(select(func.coalesce(func.max(Norm.position), 0)).where(Norm.call_id == self.call.id))[0][0])

    def rows(self, *, offset: int, limit: int) -> list[RankingRow]:
        if self.options.sort == "rank" and not (self.options.filtered or self.scoped):
            return self._rank_page(offset, limit)
        found = self._sorted_slice(offset, limit)
        ranks = self._ranks_of_rows(found)
        return [self._row(result, ranks.get(result.id)) for result in found]

    def _rank_page(self, offset: int, limit: int) -> list[RankingRow]:
        """The whole call in rank order (or its reverse): the page's ranked rows are a range of
        positions, however deep the page; then the unranked ones by id."""
        descending = self.options.descending
        ranked_total = self._ranked_count()
        rows: list[RankingRow] = []
        if offset < ranked_total:
            low, high = (ranked_total - offset - limit, ranked_total - offset) if descending else (offset, offset + limit)
            found = _execute(
                select(*NORMALISED_COLUMNS).select_from(Norm)
                .join(Application, Application.id == Norm.application_id)
                .outerjoin(Score_, Score_.application_id == Norm.application_id)
                .where(Norm.call_id == self.call.id, Norm.position > low, Norm.position <= high)
                .order_by(Norm.position.desc() if descending else Norm.position))
            rows += [self._row(result, result.n_position) for result in found]
        if len(rows) < limit:
            unranked = (self._listed(*NORMALISED_COLUMNS).where(Norm.position.is_(None))
                        .order_by(Application.id).offset(max(offset - ranked_total, 0)).limit(limit - len(rows)))
            rows += [self._row(result, None) for result in _execute(unranked)]
        return rows

    def _rank_window(self, up_to: int | None = None) -> Any:
        """A scoped manager's ranks: their ranked rows numbered in position order (up to a
        position: a range of the index)."""
        conditions = [Norm.call_id == self.call.id, Norm.position.is_not(None),
                      application_scope_clause(Norm.application_id)]
        if up_to is not None:
            conditions.append(Norm.position <= up_to)
        return (select(Norm.application_id, func.row_number().over(order_by=Norm.position).label("rank"))
                .where(*conditions).subquery("ranks"))

    def _ranks_of_rows(self, found: Sequence[Row[Any]]) -> dict[int, int]:
        """The ranks of these rows: their stored positions, or for a scoped manager positions in
        a window over their ranked rows up to the last of these."""
        positions = {result.id: result.n_position for result in found if result.n_position is not None}
        if not self.scoped or not positions:
            return positions
        window = self._rank_window(max(positions.values()))
        return dict(_execute(select(window.c.application_id, window.c.rank)  # type: ignore[arg-type]
                             .where(among(window.c.application_id, list(positions)))))

    def stream(self, size: int) -> Iterator[list[RankingRow]]:
        statement = self._listed(*NORMALISED_COLUMNS).order_by(*self._order())
        if self.scoped:
            window = self._rank_window()
            statement = statement.add_columns(window.c.rank).outerjoin(window, window.c.application_id == Application.id)
        result = db.session.connection().execute(statement.execution_options(yield_per=size))
        for partition in result.partitions():
            yield [self._row(row, row.rank if self.scoped else row.n_position) for row in partition]

    def _row(self, result: Row[Any], rank: int | None) -> RankingRow:
        row = super()._row(result, rank)
        row.rank = rank if result.n_position is not None else None
        row.normalised = (Aggregate(result.n_reviews, result.n_mean, result.n_median, result.n_std,
                                    result.n_minimum, result.n_maximum, False) if result.n_reviews else EMPTY)
        return row


def _check_options(*, sort: str, flag: str | None, state: str | None) -> None:
    if sort not in SORT_KEYS:
        raise RankingError(f"unknown sort column {sort!r}")
    if flag is not None and flag not in FLAGS:
        raise RankingError(f"unknown flag {flag!r}")
    if state is not None and state not in LISTED_STATES:
        raise RankingError(f"unknown state {state!r}")


def _execute(statement: Executable) -> Sequence[Row[Any]]:
    """All rows of a select, run on the session's connection as Core.

    The board reads a row per application and builds no model objects from them: skipping
    the ORM's per-row loading, and fetching everything in one call to the driver rather
    than row by row, halves the time it takes to read 100,000 of them.
    """
    return db.session.connection().execute(statement).all()


def _in_call(column: Any, call_id: int) -> Any:
    """``column IN (the call's application ids)``: lets the database walk reviews and
    assignments in application order (their unique indexes start with application_id),
    which an explicit join to applications would not, so grouping needs no sort."""
    return column.in_(select(Application.id).where(Application.call_id == call_id))


def _progress_query(condition: ColumnElement[bool], now: Any) -> Select[Any]:
    submitted = and_(Review.application_id == Assignment.application_id,
                     Review.reviewer_id == Assignment.reviewer_id, Review.state == "submitted")
    late = case((and_(Assignment.due_at.is_not(None), Assignment.due_at < now, Review.id.is_(None)), 1), else_=0)
    return (select(Assignment.application_id, func.count(Assignment.id), func.sum(late))
            .outerjoin(Review, submitted).where(condition).group_by(Assignment.application_id))


def _take_progress(rows: Mapping[int, RankingRow], result: Iterable[Row[Any]]) -> None:
    for application_id, assigned, overdue in result:
        row = rows.get(application_id)
        if row is not None:
            row.reviews_assigned, row.reviews_overdue = assigned, int(overdue or 0)


def _programmes_query(condition: ColumnElement[bool]) -> Select[Any]:
    return (select(ProgrammePreference.application_id, ProgrammePreference.programme_id, Programme.name)
            .join(Programme, Programme.id == ProgrammePreference.programme_id)
            .where(condition)
            .order_by(ProgrammePreference.application_id, ProgrammePreference.rank))


def _take_programmes(rows: Mapping[int, RankingRow], result: Iterable[Row[Any]]) -> None:
    for application_id, programme_id, name in result:
        row = rows.get(application_id)
        if row is not None:
            row.programme_ids.append(programme_id)
            row.programmes.append(name)


def _submitted_reviews(call_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Application ids, reviewer ids and weighted scores of every submitted review in the call."""
    import numpy as np
    # CAST to float in SQL: PostgreSQL would otherwise return Decimals, ten times slower to
    # build and to do arithmetic on than the floats the statistics use anyway.
    result = _execute(
        select(Review.application_id, Review.reviewer_id, cast(Review.weighted_score, Float))
        .where(_in_call(Review.application_id, call_id), Review.state == "submitted",
               Review.weighted_score.is_not(None))
    )
    application_ids, reviewer_ids, scores = list(zip(*result, strict=True)) or [(), (), ()]
    return (np.asarray(application_ids, dtype=np.int64), np.asarray(reviewer_ids, dtype=np.int64),
            np.asarray(scores, dtype=np.float64))


# --- CSV export ------------------------------------------------------------------------------------

CSV_COLUMNS: dict[str, str] = {
    "rank": "Rank",
    "application_id": "Application",
    "company": "Company",
    "programmes": "Programmes",
    "state": "State",
    "submitted_at": "Submitted (UTC)",
    "reviews_submitted": "Reviews submitted",
    "reviews_assigned": "Reviews assigned",
    "reviews_overdue": "Reviews overdue",
    "mean": "Mean",
    "median": "Median",
    "std": "Std",
    "min": "Min",
    "max": "Max",
    "range": "Range",
    "normalised_mean": "Normalised mean",
    "disagreement": "Disagreement",
    "threshold_failures": "Below threshold",
}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text, with a leading quote when a spreadsheet would take it for a formula.

    Numbers are written by us and may be negative, so only text is guarded; a company named
    "=HYPERLINK(...)" must reach the manager's spreadsheet as text, not as a live link.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def ranking_csv(rows: Sequence[RankingRow], criteria: Sequence[Criterion | CriterionRule], *,
                labels: Mapping[str, str] | None = None, criterion_label: str = "Mean: %(name)s",
                yes_no: tuple[str, str] = ("yes", "no"), questions: Sequence[tuple[int, str]] = (),
                answers: Mapping[int, Mapping[int, str]] | None = None) -> str:
    """Every column of the board plus one mean per criterion, then one column per question of
    the call (``questions`` as (id, label), ``answers`` by application then question), as CSV
    text (header first).

    ``labels`` and ``criterion_label`` let the web layer pass translated headers; the
    column order never changes, so scripts can rely on it.
    """
    return "".join(ranking_csv_chunks(rows, criteria, labels=labels, criterion_label=criterion_label,
                                      yes_no=yes_no, questions=questions, answers=answers))


CSV_ROWS_PER_CHUNK = 1_000


def ranking_csv_chunks(rows: Iterable[RankingRow], criteria: Sequence[Criterion | CriterionRule], *,
                       labels: Mapping[str, str] | None = None, criterion_label: str = "Mean: %(name)s",
                       yes_no: tuple[str, str] = ("yes", "no"), questions: Sequence[tuple[int, str]] = (),
                       answers: Mapping[int, Mapping[int, str]] | None = None, header: bool = True) -> Iterator[str]:
    """``ranking_csv`` a thousand rows at a time, so a response can stream it instead of
    building the whole file in memory first (``header=False`` for the rows that follow)."""
    headers = {**CSV_COLUMNS, **(labels or {})}
    names = {criterion.id: criterion.name for criterion in criteria}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if header:
        writer.writerow([safe_cell(headers[key]) for key in CSV_COLUMNS]
                        + [safe_cell(criterion_label % {"name": criterion.name}) for criterion in criteria]
                        + [safe_cell(label) for _, label in questions])
    for number, row in enumerate(rows, start=1):
        if number % CSV_ROWS_PER_CHUNK == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        scores = row.scores
        values: list[object] = [
            row.rank, row.application_id, row.company_name, "; ".join(row.programmes), row.state,
            row.submitted_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if row.submitted_at else None,
            row.reviews_submitted, row.reviews_assigned, row.reviews_overdue,
            scores.mean, scores.median, scores.std, scores.minimum, scores.maximum, scores.range,
            row.normalised.mean if row.normalised else None,
            yes_no[0] if row.disagreement else yes_no[1],
            "; ".join(names.get(criterion_id, str(criterion_id)) for criterion_id in row.threshold_failures),
        ]
        values += [row.criterion_means.get(criterion.id) for criterion in criteria]
        given = (answers or {}).get(row.application_id, {})
        values += [given.get(question_id) for question_id, _ in questions]
        writer.writerow([safe_cell(value) for value in values])
    yield out.getvalue()


def record_csv_download(manager: User, call: Call, row_count: int, options: Mapping[str, Any]) -> None:
    """Scores and committee flags left the service as a file: who took which ranking, when."""
    record_event(manager, "ranking.csv_downloaded", "call", call.id, rows=row_count,
                 options={key: value for key, value in options.items() if value is not None})
