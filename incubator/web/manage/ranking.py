"""The ranking board of a call, and its CSV export (managers; administrators pass too)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Collection, Hashable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from flask import Response, abort, request, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import joinedload

from incubator.database import utcnow
from incubator.domain.applications import STATE_LABELS
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, CallProgramme
from incubator.services.questions import answers_for_call
from incubator.services.ranking import (
    FLAGS,
    LISTED_STATES,
    SORT_KEYS,
    BoardHeading,
    BoardQuery,
    board_heading,
    criterion_rules,
    next_overdue_moment,
    ranking_chunks,
    ranking_count,
    ranking_csv_chunks,
    ranking_page,
    record_csv_download,
)
from incubator.services.scope import current_scope, limited_to
from incubator.web.access import role_required
from incubator.web.inputs import InputRefused, parse_id, query_int
from incubator.web.manage.ranking_rows import board_rows
from incubator.web.manage.routes import bp
from incubator.web.page_memo import render_memoized_lazily
from incubator.web.templating import link_before_id

PAGE_SIZE = 100
# The first click on a score column shows the best first; on a name, A to Z.
DESCENDING_FIRST = frozenset({"mean", "median", "std", "range", "normalised", "flags", "reviews"})
TRUE_VALUES, FALSE_VALUES = {"1", "on", "true", "yes"}, {"", "0", "off", "false", "no"}


@dataclass
class BoardOptions:
    sort: str = "rank"
    descending: bool = False
    programme_id: int | None = None
    state: str | None = None
    flag: str | None = None
    normalised: bool = False

    def service_arguments(self) -> dict[str, Any]:
        return {"sort": self.sort, "descending": self.descending, "programme_id": self.programme_id,
                "state": self.state, "flag": self.flag, "normalised": self.normalised}

    def query(self) -> BoardQuery:
        return BoardQuery.of(**self.service_arguments())

    def query_arguments(self) -> dict[str, Any]:
        """The options as URL query arguments, leaving out the defaults (for links and the pager)."""
        arguments: dict[str, Any] = {"sort": self.sort, "dir": "desc" if self.descending else "asc"}
        for name, value in (("programme", self.programme_id), ("state", self.state), ("flag", self.flag)):
            if value is not None:
                arguments[name] = value
        if self.normalised:
            arguments["normalised"] = "1"
        return arguments


def load_call(call_id: int, *, with_programmes_and_criteria: bool = False) -> Call:
    """The call or 404; for the board, with its programmes (and their names) and criteria in the
    same statement: the filters and the flags read them, which was four more round trips."""
    options = ([joinedload(Call.programmes).joinedload(CallProgramme.programme), joinedload(Call.criteria)]
               if with_programmes_and_criteria else [])
    call = db.session.get(Call, call_id, options=options)
    if call is None:
        abort(404)
    return call


def parse_options(args: Mapping[str, str], offered: Collection[int]) -> tuple[BoardOptions, list[str]]:
    """The board's options from the query string, and a message per value that made no sense.

    An unknown value is left out (the board still shows, with its default) and reported, so
    a mistyped or stale bookmark explains itself instead of failing.
    """
    options, problems = BoardOptions(), []
    sort = args.get("sort", "").strip()
    if sort in SORT_KEYS:
        options.sort = sort
    elif sort:
        problems.append(_("There is no column %(name)s to sort by.", name=sort))
    direction = args.get("dir", "").strip()
    if direction in ("asc", "desc"):
        options.descending = direction == "desc"
    elif direction:
        problems.append(_("Sort direction must be asc or desc."))
    else:
        options.descending = options.sort in DESCENDING_FIRST
    _parse_filters(args, offered, options, problems)
    return options, problems


def _parse_filters(args: Mapping[str, str], offered: Collection[int], options: BoardOptions,
                   problems: list[str]) -> None:
    """``offered``: the programme ids the call offers."""
    programme = args.get("programme", "").strip()
    if programme:
        if parse_id(programme) in offered:
            options.programme_id = parse_id(programme)
        else:
            problems.append(_("This call does not offer the programme %(value)s.", value=programme))
    state = args.get("state", "").strip()
    if state in LISTED_STATES:
        options.state = state
    elif state:
        problems.append(_("There is no application state %(value)s.", value=state))
    flag = args.get("flag", "").strip()
    if flag in FLAGS:
        options.flag = flag
    elif flag:
        problems.append(_("There is no flag %(value)s.", value=flag))
    normalised = args.get("normalised", "").strip().lower()
    if normalised in TRUE_VALUES:
        options.normalised = True
    elif normalised not in FALSE_VALUES:
        problems.append(_("Normalised must be on or off."))


@bp.route("/calls/<int:call_id>/ranking")
@role_required(Role.MANAGER)
def ranking(call_id: int) -> Any:
    heading = board_heading(call_id)
    if heading is None:
        abort(404)
    options, problems = parse_options(request.args, heading.offered)
    try:
        page_number = query_int("page", 1)
    except InputRefused as refused:
        problems.append(refused.user_message)
        page_number = 1

    def build() -> tuple[dict[str, Any], dt.datetime | None]:
        # Read only when the page is rendered: a visit with the same key is served without it.
        call = load_call(call_id, with_programmes_and_criteria=True)
        now = utcnow()
        board = ranking_page(call, options.query(), page=page_number, page_size=PAGE_SIZE, now=now)
        criteria = {criterion.id: criterion.name for criterion in call.criteria}
        context = dict(
            call=call, options=options, page=board,
            problems=problems, criteria=criteria, states=LISTED_STATES, flags=FLAGS,
            flag_labels=flag_labels(), sort_keys=SORT_KEYS, descending_first=DESCENDING_FIRST,
            rows_html=board_rows(board.items, normalised=options.normalised, texts=row_texts(), criteria=criteria,
                                 application_link=link_before_id("apply.show_application")),
        )
        return context, next_overdue_moment(call, now)

    page = render_memoized_lazily("manage/ranking.html", board_key(heading, options, page_number, problems), build)
    # Bad options are the visitor's mistake (400), but the board still helps them fix it.
    return page, 400 if problems else 200


def board_key(heading: BoardHeading, options: BoardOptions, page_number: int, problems: list[str]) -> Hashable:
    """Everything the board's page shows besides the visitor (``web.page_memo`` adds them):

    - the rows, counts and ranks: ``calls.board_version`` moves in the flush that changes any of
      them (``models.insight_inputs``: applications, company names, preferences, programme
      names, assignments, submitted reviews, scores, offers, residencies, criteria added or
      removed), and the stored normalised figures the board reads follow the same changes;
    - what the board shows of the call itself, read with the version (``BoardHeading``): its
      title and disagreement threshold (the text, the flags), its programmes (the filter, the
      options' check), its criteria's names (the threshold badges) and weights, scales and
      thresholds (the flags, the normalised figures);
    - the options, the page asked for, the messages about bad options, the page size and the
      programme scope (which rows are listed, and their ranks among them).

    The time decides the "overdue" badges: the rendering is kept only until the next open
    assignment falls due (``next_overdue_moment``). A served page skips ``ranking_page`` and
    with it the normalised snapshot's recomputation; ``board_version`` moves with every move
    of ``insights_version``, so a kept page was made from a snapshot current for its version."""
    return (heading, dataclasses.astuple(options), page_number, PAGE_SIZE, tuple(problems), current_scope())


def flag_labels() -> dict[str, str]:
    return {"disagreement": _("Reviewers disagree"), "threshold": _("Below a threshold"),
            "overdue": _("Reviews overdue")}


def row_texts() -> dict[str, Any]:
    """What every row of the board repeats, translated once per page (a hundred rows asked for
    about 350 translations and made the page's rendering several times dearer)."""
    return {
        "states": {state: _(STATE_LABELS[state]) for state in LISTED_STATES},
        "no_company": _("(no company name)"),
        # The format alone (no variables: Flask-Babel leaves it unformatted); rows fill it in.
        "submitted_of": _("%(n)d of %(k)d reviews submitted"),
        "disagree": _("Reviewers disagree"),
    }


def csv_labels() -> dict[str, str]:
    return {
        "rank": _("Rank"), "application_id": _("Application"), "company": _("Company"),
        "programmes": _("Programmes"), "state": _("State"), "submitted_at": _("Submitted (UTC)"),
        "reviews_submitted": _("Reviews submitted"), "reviews_assigned": _("Reviews assigned"),
        "reviews_overdue": _("Reviews overdue"), "mean": _("Mean"), "median": _("Median"), "std": _("Std"),
        "min": _("Min"), "max": _("Max"), "range": _("Range"), "normalised_mean": _("Normalised mean"),
        "disagreement": _("Disagreement"), "threshold_failures": _("Below threshold"),
    }


def csv_filename(call: Call) -> str:
    """ASCII letters, digits and dashes only: safe in a header and on every file system."""
    slug = re.sub(r"[^a-z0-9]+", "-", call.slug.lower()).strip("-")[:60] or f"call-{call.id}"
    return f"ranking-{slug}-{utcnow():%Y-%m-%d}.csv"


@bp.route("/calls/<int:call_id>/ranking.csv", endpoint="ranking_csv")
@role_required(Role.MANAGER)
def ranking_csv_download(call_id: int) -> Any:
    call = load_call(call_id)
    options, problems = parse_options(request.args, {offered.programme_id for offered in call.programmes})
    if problems:
        # A download cannot show a message beside the table; say what was wrong instead.
        return Response(" ".join(problems) + "\n", status=400, mimetype="text/plain")
    query = options.query()
    record_csv_download(current_user, call, ranking_count(call, query), options.service_arguments())
    texts = {"labels": csv_labels(), "criterion_label": _("Mean: %(name)s"), "yes_no": (_("yes"), _("no"))}
    body = _csv_body(call.id, query, current_scope(), texts, utcnow())
    response = Response(stream_with_context(body), mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment", filename=csv_filename(call))
    response.headers["Cache-Control"] = "no-store"  # scores are confidential to the committee
    return response


def _csv_body(call_id: int, query: BoardQuery, scope: frozenset[int] | None, texts: dict[str, Any],
              now: dt.datetime) -> Iterator[str]:
    """The file, chunk by chunk as the board's rows stream from the database, each chunk with
    the answers to the call's questions of its own applications.

    It runs after the view has returned, in an application context of its own (a new session,
    an empty ``g``): so it takes plain values, loads the call again and restores the request's
    programme scope, without which a scoped manager's file would list every programme's rows.
    """
    with limited_to(scope) if scope is not None else nullcontext():
        call = load_call(call_id)
        rules = criterion_rules(call)
        questions = [(question.id, question.label) for question in call.questions]
        yield "\ufeff"  # a byte order mark makes Excel read the file as UTF-8 (Ø, Å and Ö in company names)
        header = True
        for chunk in ranking_chunks(call, query, all_criterion_means=True, now=now):
            answers = answers_for_call(call, [row.application_id for row in chunk]) if questions else {}
            yield from ranking_csv_chunks(chunk, rules, answers=answers, header=header, questions=questions, **texts)
            header = False
        if header:  # no rows at all: the header alone
            yield from ranking_csv_chunks([], rules, questions=questions, **texts)
