"""The ranking board's page is rendered once per call version (``calls.board_version``) and the
rest of what it shows, then served again as it was: a second visit renders nothing and reads
neither the board nor the time's overdue moment; every change to what the board shows, the time
passing an open assignment's due moment, another visitor, scope, language or option gets a page
of its own. SQLite and PostgreSQL (the fixtures run both)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask, template_rendered
from flask.testing import FlaskClient
from sqlalchemy import event, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Criterion, Programme, ProgrammePreference, ProgrammeScope, Review, Score, User
from incubator.web import page_memo
from incubator.web.manage import ranking as ranking_views
from tests.conftest import log_in
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer
from tests.web.test_ranking import body_rows, reviewed_board


@pytest.fixture
def board(app: Flask) -> SimpleNamespace:
    """test_ranking's board: three reviewed companies (one 0–5 criterion, threshold 3), one
    assigned but unreviewed."""
    board = reviewed_board()
    board.call_id = board.call.id
    return board


def board_url(board: SimpleNamespace, **args: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in args.items())
    return f"/manage/calls/{board.call_id}/ranking" + (f"?{query}" if query else "")


@contextmanager
def counting(app: Flask) -> Iterator[SimpleNamespace]:
    """Templates rendered and SQL statements sent while the block runs."""
    seen = SimpleNamespace(templates=[], statements=[])

    def rendered(_app: Flask, template: Any, context: dict[str, Any], **_: Any) -> None:
        seen.templates.append(template.name)

    def statement(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        seen.statements.append(sql)

    template_rendered.connect(rendered, app)
    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        yield seen
    finally:
        template_rendered.disconnect(rendered, app)
        event.remove(db.engine, "before_cursor_execute", statement)


def visit(app: Flask, client: FlaskClient, url: str) -> tuple[str, SimpleNamespace]:
    with counting(app) as seen:
        response = client.get(url)
    assert response.status_code in (200, 400)
    return response.get_data(as_text=True), seen


def test_a_second_visit_is_served_without_rendering_or_reading_the_board(
        app: Flask, manager_client: FlaskClient, board: SimpleNamespace) -> None:
    first, rendering = visit(app, manager_client, board_url(board))
    again, served = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in rendering.templates
    assert served.templates == []
    assert again == first
    # The session and the call with its programmes and criteria, nothing of the board.
    assert len(served.statements) < len(rendering.statements)
    assert not any("application_scores" in sql or "assignments" in sql for sql in served.statements)


def test_without_the_memo_every_visit_renders(app: Flask, manager_client: FlaskClient, board: SimpleNamespace,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PAGE_MEMO_BYTES", 0)
    visit(app, manager_client, board_url(board))
    _, seen = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in seen.templates


def _submit_a_review(board: SimpleNamespace) -> str:
    unscored = board.companies["Unscored AS"]
    make_review(unscored, board.reviewers[0], {board.team: 5}, state="draft")
    review = db.session.scalar(select(Review).where(Review.application_id == unscored.id))
    review.state, review.submitted_at = "submitted", utcnow()
    return "5.00"  # its mean


def _change_a_score(board: SimpleNamespace) -> str:
    """Nordic's Team mean 4.25 -> 2.75, below the threshold: a second "Below threshold" badge
    (its weighted mean, a review column, stays as it was)."""
    nordic = board.companies["Nordic Onco AS"]
    score = db.session.scalar(select(Score).join(Review).where(Review.application_id == nordic.id,
                                                               Review.reviewer_id == board.reviewers[0].id))
    score.value = Decimal(1)
    return "Below threshold: Team"


def _assign(board: SimpleNamespace) -> str:
    make_assignment(board.companies["Unscored AS"], make_reviewer())
    return "0/1"


def _rename_company(board: SimpleNamespace) -> str:
    board.companies["Bergen Dx"].company_name = "Bergen Diagnostics ASA"
    return "Bergen Diagnostics ASA"


def _rename_criterion(board: SimpleNamespace) -> str:
    db.session.get(Criterion, board.team).name = "Founding team"
    return "Below threshold: Founding team"


def _rename_programme(board: SimpleNamespace) -> str:
    preference = board.companies["Bergen Dx"].preferences[0]
    db.session.get(Programme, preference.programme_id).name = "OCC Incubator Plus"
    return "OCC Incubator Plus"


def _decide(board: SimpleNamespace) -> str:
    board.companies["Radium Bio"].state = "accepted"
    board.companies["Radium Bio"].decided_at = utcnow()
    return "Accepted"


def _lower_the_threshold(board: SimpleNamespace) -> str:
    db.session.get(Criterion, board.team).threshold = Decimal(2)  # Bergen's 2.25 passes now
    return ""


@pytest.mark.parametrize("change", [_submit_a_review, _change_a_score, _assign, _rename_company, _rename_criterion,
                                    _rename_programme, _decide, _lower_the_threshold])
def test_a_change_shows_on_the_next_visit(app: Flask, manager_client: FlaskClient, board: SimpleNamespace,
                                          change: Callable[[SimpleNamespace], str]) -> None:
    before, _ = visit(app, manager_client, board_url(board))
    expected = change(board)
    db.session.commit()
    after, seen = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in seen.templates
    assert after != before
    if change is _change_a_score:
        assert after.count(expected) == before.count(expected) + 1
    elif change is _lower_the_threshold:
        assert "Below threshold" in before and "Below threshold" not in after
    else:
        assert expected in after


def test_a_call_edit_shows_on_the_next_visit(app: Flask, manager_client: FlaskClient, board: SimpleNamespace) -> None:
    before, _ = visit(app, manager_client, board_url(board))
    assert "Reviewers disagree" in before.split("<tbody>", 1)[1]  # Radium: std 2 > 1
    board.call.title = "Autumn intake 2027"
    board.call.disagreement_threshold = Decimal("2.50")
    db.session.commit()
    after, _ = visit(app, manager_client, board_url(board))
    assert "Autumn intake 2027" in after
    assert "Reviewers disagree" not in after.split("<tbody>", 1)[1]


def test_an_unrelated_edit_serves_the_same_page(app: Flask, manager_client: FlaskClient,
                                                board: SimpleNamespace) -> None:
    visit(app, manager_client, board_url(board))
    board.companies["Bergen Dx"].website = "https://bergen.example"
    db.session.commit()
    _, seen = visit(app, manager_client, board_url(board))
    assert seen.templates == []


def test_an_overdue_count_appears_once_the_due_moment_passes(app: Flask, manager_client: FlaskClient,
                                                             board: SimpleNamespace,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    due = now + dt.timedelta(hours=1)
    make_assignment(board.companies["Unscored AS"], make_reviewer(), due_at=due)
    # Another reviewer's, due sooner but already submitted: never overdue, so not the moment.
    make_assignment(board.companies["Bergen Dx"], submitted := make_reviewer(), due_at=now + dt.timedelta(minutes=5))
    make_review(board.companies["Bergen Dx"], submitted, {board.team: 3})
    before, _ = visit(app, manager_client, board_url(board))
    assert "overdue" not in before.split("<tbody>", 1)[1]

    def at(moment: dt.datetime) -> None:
        for module in (page_memo, ranking_views):
            monkeypatch.setattr(module, "utcnow", lambda: moment)

    at(due - dt.timedelta(seconds=1))
    _, seen = visit(app, manager_client, board_url(board))
    assert seen.templates == []  # nothing fell overdue yet: the same page
    at(due + dt.timedelta(seconds=1))
    after, seen = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in seen.templates
    assert "1 overdue" in after


def test_the_next_overdue_moment_is_the_earliest_open_assignments(board: SimpleNamespace) -> None:
    from incubator.services.ranking import next_overdue_moment

    now = utcnow()
    assert next_overdue_moment(board.call, now) is None  # every assignment without a due moment
    unscored, bergen = board.companies["Unscored AS"], board.companies["Bergen Dx"]
    make_assignment(unscored, make_reviewer(), due_at=now - dt.timedelta(hours=1))  # overdue already
    make_assignment(unscored, make_reviewer(), due_at=now + dt.timedelta(hours=3))
    make_assignment(bergen, done := make_reviewer(), due_at=now + dt.timedelta(hours=1))
    make_review(bergen, done, {board.team: 3})  # submitted: never overdue
    other = make_call()
    make_assignment(make_application(make_applicant(), other, state="submitted"), make_reviewer(),
                    due_at=now + dt.timedelta(hours=2))  # another call's
    assert next_overdue_moment(board.call, now) == now + dt.timedelta(hours=3)


def test_the_walk_of_reviewed_assignments_stops_at_its_limit(board: SimpleNamespace,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the limit, the last reviewed one read is due no later than any open one after it."""
    from incubator.services import ranking

    now = utcnow()
    bergen, unscored = board.companies["Bergen Dx"], board.companies["Unscored AS"]
    for hours in (1, 2, 3):
        make_assignment(bergen, done := make_reviewer(), due_at=now + dt.timedelta(hours=hours))
        make_review(bergen, done, {board.team: 3})
    make_assignment(unscored, make_reviewer(), due_at=now + dt.timedelta(hours=4))
    assert ranking.next_overdue_moment(board.call, now) == now + dt.timedelta(hours=4)
    monkeypatch.setattr(ranking, "DUE_WALK_LIMIT", 2)
    assert ranking.next_overdue_moment(board.call, now) == now + dt.timedelta(hours=2)
    monkeypatch.setattr(ranking, "DUE_WALK_LIMIT", 5)
    assert ranking.next_overdue_moment(board.call, now + dt.timedelta(hours=5)) is None


def test_each_manager_gets_their_own_page(app: Flask, manager_client: FlaskClient, board: SimpleNamespace,
                                          make_user: Callable[..., User]) -> None:
    first, _ = visit(app, manager_client, board_url(board))
    other = make_user(Role.MANAGER, name="Ingrid Second-Manager")
    other_client = app.test_client()
    log_in(other_client, other.email)
    theirs, seen = visit(app, other_client, board_url(board))
    assert "manage/ranking.html" in seen.templates
    assert "Ingrid Second-Manager" in theirs and manager_client.user.name not in theirs  # type: ignore[attr-defined]
    assert manager_client.user.name in first  # type: ignore[attr-defined]


def test_a_scope_gets_its_own_page(app: Flask, manager_client: FlaskClient, board: SimpleNamespace) -> None:
    """The same manager, limited to the exchange programme between two visits: only Bergen
    (which ranks it) is listed."""
    exchange = board.call.programmes[1].programme_id
    db.session.add(ProgrammePreference(application_id=board.companies["Bergen Dx"].id, programme_id=exchange, rank=2))
    db.session.commit()
    everything, _ = visit(app, manager_client, board_url(board))
    assert len(body_rows(everything)) == 4
    db.session.add(ProgrammeScope(user_id=manager_client.user.id, programme_id=exchange))  # type: ignore[attr-defined]
    db.session.commit()
    scoped, seen = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in seen.templates
    assert body_rows(scoped) == ["Bergen Dx"]
    # The programme filter offers the manager's own programme only, never a nameless option.
    options = re.findall(r'<option value="(\d*)"[^>]*>([^<]*)</option>',
                         scoped.split('id="filter-programme"')[1].split("</select>")[0])
    assert options == [("", "All programmes"), (str(exchange), board.call.programmes[1].programme.name)]


def test_a_scope_over_every_programme_of_the_call_still_gets_its_own_page(
        app: Flask, manager_client: FlaskClient, board: SimpleNamespace) -> None:
    """Limited to both programmes the call offers, the manager loads the same call, programmes
    and criteria as before; an application ranking neither is still out of their sight."""
    unscored = board.companies["Unscored AS"]
    for preference in list(unscored.preferences):
        db.session.delete(preference)
    db.session.commit()
    everything, _ = visit(app, manager_client, board_url(board))
    assert "Unscored AS" in body_rows(everything)
    for offered in board.call.programmes:
        db.session.add(ProgrammeScope(user_id=manager_client.user.id,  # type: ignore[attr-defined]
                                      programme_id=offered.programme_id))
    db.session.commit()
    scoped, seen = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in seen.templates
    assert body_rows(scoped) == ["Nordic Onco AS", "Radium Bio", "Bergen Dx"]


def test_a_kept_page_is_not_served_once_the_call_is_out_of_scope(
        app: Flask, manager_client: FlaskClient, board: SimpleNamespace) -> None:
    """Seen before the manager was limited to a programme the call does not offer: not found."""
    visit(app, manager_client, board_url(board))
    elsewhere = Programme(slug="elsewhere", name="Elsewhere", host_site_id=board.call.programmes[0].programme.host_site_id,
                          summary="", offers=[])
    db.session.add(elsewhere)
    db.session.flush()
    db.session.add(ProgrammeScope(user_id=manager_client.user.id, programme_id=elsewhere.id))  # type: ignore[attr-defined]
    db.session.commit()
    assert manager_client.get(board_url(board)).status_code == 404


def test_another_language_gets_its_own_page(app: Flask, manager_client: FlaskClient, board: SimpleNamespace) -> None:
    english, _ = visit(app, manager_client, board_url(board))
    db.session.get(User, manager_client.user.id).locale = "nb"  # type: ignore[attr-defined]
    db.session.commit()
    norwegian, seen = visit(app, manager_client, board_url(board))
    assert "manage/ranking.html" in seen.templates
    assert '<html lang="nb"' in norwegian and '<html lang="en"' in english


def test_options_and_pages_get_their_own_pages(app: Flask, manager_client: FlaskClient, board: SimpleNamespace,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    by_rank, _ = visit(app, manager_client, board_url(board))
    by_company, _ = visit(app, manager_client, board_url(board, sort="company", dir="asc"))
    assert body_rows(by_rank) == ["Nordic Onco AS", "Radium Bio", "Bergen Dx", "Unscored AS"]
    assert body_rows(by_company) == ["Bergen Dx", "Nordic Onco AS", "Radium Bio", "Unscored AS"]
    monkeypatch.setattr(ranking_views, "PAGE_SIZE", 3)
    first, _ = visit(app, manager_client, board_url(board))
    second, _ = visit(app, manager_client, board_url(board, page="2"))
    assert body_rows(first) == ["Nordic Onco AS", "Radium Bio", "Bergen Dx"]
    assert body_rows(second) == ["Unscored AS"]
    bad, _ = visit(app, manager_client, board_url(board, sort="salary"))
    assert "There is no column salary to sort by." in bad


def test_a_page_with_a_flashed_message_is_not_kept(app: Flask, manager_client: FlaskClient,
                                                   board: SimpleNamespace) -> None:
    with manager_client.session_transaction() as session:
        session["_flashes"] = [("success", "Saved the call.")]
    flashed, _ = visit(app, manager_client, board_url(board))
    plain, seen = visit(app, manager_client, board_url(board))
    assert "Saved the call." in flashed and "Saved the call." not in plain
    assert "manage/ranking.html" in seen.templates


def test_a_role_change_gets_the_new_roles_links_at_once(app: Flask, manager_client: FlaskClient,
                                                        board: SimpleNamespace) -> None:
    """Managers and administrators both open the board; only administrators get the Users link.
    The same person, session and data: without the role in the key the kept page would stay."""
    page, _ = visit(app, manager_client, board_url(board))
    assert 'href="/admin/users"' not in page and 'href="/admin/users"' not in visit(app, manager_client, board_url(board))[0]
    manager = manager_client.user  # type: ignore[attr-defined]
    manager.role = Role.ADMIN.value
    db.session.commit()
    assert 'href="/admin/users"' in visit(app, manager_client, board_url(board))[0]
