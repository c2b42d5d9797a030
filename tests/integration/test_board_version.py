"""``calls.board_version`` (models.insight_inputs) moves in the same flush as every change to what
the ranking board shows that is not read with the call, in the one UPDATE that moves
``insights_version``: both for the insights' inputs, the board's alone for company names and
programme names. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Call, Programme, Review
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric


@pytest.fixture
def calls(app: Flask) -> SimpleNamespace:
    """Two calls with an application each; the first's has an assignment."""
    first, second = make_call(), make_call()
    team = make_rubric(first, [{"name": "Team", "weight": Decimal(1)}])[0].id
    one = make_application(make_applicant(), first, state="submitted", complete=True, company_name="One AS")
    two = make_application(make_applicant(), second, state="submitted", complete=True, company_name="Two AS")
    reviewer = make_reviewer()
    make_assignment(one, reviewer)
    return SimpleNamespace(first=first.id, second=second.id, one=one, two=two, reviewer=reviewer, team=team)


def versions(call_id: int) -> tuple[int, int]:
    """(insights_version, board_version) as stored."""
    insights, board = db.session.execute(select(Call.insights_version, Call.board_version)
                                         .where(Call.id == call_id)).one()
    return insights, board


@contextmanager
def call_updates(app: Flask) -> Iterator[list[str]]:
    """The UPDATE statements of ``calls`` sent while the block runs."""
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.lstrip().upper().startswith("UPDATE CALLS"):
            sent.append(sql)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def test_a_company_name_moves_the_board_alone(app: Flask, calls: SimpleNamespace) -> None:
    first, second = versions(calls.first), versions(calls.second)
    calls.one.company_name = "One Renamed AS"
    db.session.commit()
    assert versions(calls.first) == (first[0], first[1] + 1)
    assert versions(calls.second) == second


def test_an_unshown_edit_moves_neither(app: Flask, calls: SimpleNamespace) -> None:
    first = versions(calls.first)
    calls.one.website = "https://one.example"
    db.session.get(Programme, calls.one.preferences[0].programme_id).summary = "Now with more lab space."
    db.session.commit()
    assert versions(calls.first) == first


def test_a_programme_name_moves_every_calls_board(app: Flask, calls: SimpleNamespace) -> None:
    """Every call: a programme an application ranked may no longer be among its call's offered
    ones, which the board reads with the call."""
    first, second = versions(calls.first), versions(calls.second)
    db.session.get(Programme, calls.one.preferences[0].programme_id).name = "OCC Incubator Plus"
    db.session.commit()
    assert versions(calls.first) == (first[0], first[1] + 1)
    assert versions(calls.second) == (second[0], second[1] + 1)


def test_a_bulk_programme_update_moves_every_calls_board(app: Flask, calls: SimpleNamespace) -> None:
    first = versions(calls.first)
    db.session.execute(update(Programme).values(summary=Programme.summary))
    db.session.commit()
    assert versions(calls.first) == (first[0], first[1] + 1)


def test_a_submitted_review_moves_both_in_one_update(app: Flask, calls: SimpleNamespace) -> None:
    first, second = versions(calls.first), versions(calls.second)
    with call_updates(app) as sent:
        make_review(calls.one, calls.reviewer, {calls.team: 4})
    assert versions(calls.first) == (first[0] + 1, first[1] + 1)
    assert versions(calls.second) == second
    assert len([sql for sql in sent if "board_version" in sql]) == 1
    assert all("insights_version" in sql for sql in sent if "board_version" in sql)


def test_one_flush_of_both_kinds_sends_one_update(app: Flask, calls: SimpleNamespace) -> None:
    """A name in one call, a state in the other: each call's own counters move."""
    first, second = versions(calls.first), versions(calls.second)
    with call_updates(app) as sent:
        calls.one.company_name = "One Renamed AS"
        calls.two.state, calls.two.withdrawn_at = "withdrawn", utcnow()
        db.session.commit()
    assert versions(calls.first) == (first[0], first[1] + 1)
    assert versions(calls.second) == (second[0] + 1, second[1] + 1)
    assert len([sql for sql in sent if "board_version" in sql]) == 1


def test_a_draft_review_moves_neither(app: Flask, calls: SimpleNamespace) -> None:
    first = versions(calls.first)
    make_review(calls.one, calls.reviewer, {calls.team: 4}, state="draft")
    review = db.session.scalar(select(Review).where(Review.application_id == calls.one.id))
    review.comment_committee = "Still thinking."
    db.session.commit()
    assert versions(calls.first) == first
