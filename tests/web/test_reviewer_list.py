"""The reviewer's list in pages: at most a page of rows, every assignment on exactly one page in
the list's order (newest call first, the most pressing due date first, undated last), a page
past the end shows the last one, and the page costs the same statements for 3 or 33 rows."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import ReviewerProfile, User
from incubator.services.reviewer_list import PAGE_SIZE
from incubator.services.reviews import reviewer_assignments
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment
from tests.support.statements import statements_sent

LINK = re.compile(r'href="/review/applications/(\d+)"')


@pytest.fixture
def reviewer(reviewer_client: FlaskClient) -> User:
    return reviewer_client.user  # type: ignore[attr-defined]


def assign(reviewer: User, count: int, *, older_call: int = 0) -> None:
    """``count`` assignments in a current call (due dates spread, some undated, names repeating)
    and ``older_call`` in a call that opened earlier."""
    now = utcnow()
    newer = make_call(review_deadline=None)
    older = make_call(now=now - dt.timedelta(days=60), review_deadline=now + dt.timedelta(days=5))
    for i in range(count):
        application = make_application(make_applicant(), newer, state="submitted", company_name=f"Company {i % 7}")
        due = None if i % 5 == 0 else now + dt.timedelta(days=(i * 37) % 11, hours=i)
        make_assignment(application, reviewer, due_at=due)
    for i in range(older_call):
        application = make_application(make_applicant(), older, state="under_review", company_name=f"Old {i}")
        make_assignment(application, reviewer)


def shown(client: FlaskClient, query: str = "") -> tuple[int, str]:
    response = client.get(f"/review/{query}")
    return response.status_code, response.get_data(as_text=True)


def test_pages_hold_every_assignment_once_in_the_lists_order(app: Flask, reviewer_client: FlaskClient,
                                                             reviewer: User) -> None:
    assign(reviewer, PAGE_SIZE + 8, older_call=3)
    expected = [row.application_id for row in reviewer_assignments(reviewer)]
    assert len(expected) == PAGE_SIZE + 11
    pages = []
    for number in (1, 2):
        status, page = shown(reviewer_client, f"?page={number}")
        assert status == 200
        pages.append([int(found) for found in LINK.findall(page)])
    assert len(pages[0]) == PAGE_SIZE and len(pages[1]) == 11
    assert pages[0] + pages[1] == expected
    _, first = shown(reviewer_client)
    assert "Page 1 of 2" in first and "?page=2" in first and "Old 0" not in first
    _, second = shown(reviewer_client, "?page=2")
    assert "Page 2 of 2" in second and "?page=1" in second and "Old 0" in second


@pytest.mark.parametrize("query", ["?page=3", "?page=99999999999999999999", "?page=10000"])
def test_a_page_past_the_end_shows_the_last_one(reviewer_client: FlaskClient, reviewer: User, query: str) -> None:
    assign(reviewer, PAGE_SIZE + 2)
    status, page = shown(reviewer_client, query)
    assert status == 200 and "Page 2 of 2" in page and len(LINK.findall(page)) == 2
    assert "No applications are assigned to you yet" not in page


@pytest.mark.parametrize("query", ["?page=0", "?page=-3", "?page=abc", "?page="])
def test_a_page_that_is_not_a_page_number_shows_the_first(reviewer_client: FlaskClient, reviewer: User,
                                                          query: str) -> None:
    assign(reviewer, PAGE_SIZE + 2)
    status, page = shown(reviewer_client, query)
    assert status == 200 and "Page 1 of 2" in page and len(LINK.findall(page)) == PAGE_SIZE


def test_the_profile_reminder_follows_the_profile_on_full_and_empty_lists(reviewer_client: FlaskClient,
                                                                          reviewer: User) -> None:
    reminder = "fill in your reviewer profile"
    _, empty = shown(reviewer_client)
    assert reminder in empty and "No applications are assigned to you yet" in empty
    assign(reviewer, 2)
    assert reminder in shown(reviewer_client)[1]
    db.session.add(ReviewerProfile(user_id=reviewer.id, focus_areas=[], expertise="", max_load=5))
    db.session.commit()
    assert reminder not in shown(reviewer_client)[1]


def test_the_page_costs_the_same_statements_for_few_or_many_rows(app: Flask, reviewer_client: FlaskClient,
                                                                 reviewer: User) -> None:
    def statements_for_the_list() -> int:
        reviewer_client.get("/review/")  # the once-a-minute last_seen_at write is behind us
        with statements_sent() as seen:
            assert reviewer_client.get("/review/").status_code == 200
        return len(seen)

    assign(reviewer, 3)
    few = statements_for_the_list()
    assign(reviewer, PAGE_SIZE * 2)
    assert statements_for_the_list() == few == 2  # the session with its user and scope; the page
