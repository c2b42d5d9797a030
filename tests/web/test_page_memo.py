"""Pages kept for their exact inputs (``incubator/web/page_memo.py``), on the reviewer's list.

A repeat visit is served without rendering; each thing the key holds has a test here that a kept
page would get wrong without it: the rows and their state, the time's badge, the visitor's own
CSRF token, name, role and language, the URL the language form returns to, and flashed messages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from flask import Flask, template_rendered
from flask.testing import FlaskClient

import incubator.web.review.routes as review_routes
from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Review, User
from incubator.web.page_memo import RenderedPages
from tests.conftest import PASSWORD, csrf_token, log_in
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment

LIST = "review/assignments.html"


@contextmanager
def renderings(app: Flask) -> Iterator[list[str]]:
    names: list[str] = []

    def record(sender: Flask, template: object, context: object, **extra: object) -> None:
        names.append(getattr(template, "name", ""))

    template_rendered.connect(record, app)
    try:
        yield names
    finally:
        template_rendered.disconnect(record, app)


@pytest.fixture
def reviewer(reviewer_client: FlaskClient) -> User:
    return reviewer_client.user  # type: ignore[attr-defined]


def the_list(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/review/{query}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def assigned(reviewer: User, company: str = "Aurora Bio", due_at: dt.datetime | None = None) -> int:
    call = make_call(review_deadline=None)
    application = make_application(make_applicant(), call, state="submitted", company_name=company)
    make_assignment(application, reviewer, due_at=due_at)
    return application.id


def test_a_repeat_visit_is_the_same_page_without_rendering_it(app: Flask, reviewer_client: FlaskClient,
                                                              reviewer: User) -> None:
    assigned(reviewer)
    with renderings(app) as rendered:
        first = the_list(reviewer_client)
        second = the_list(reviewer_client)
        third = the_list(reviewer_client)
    assert rendered.count(LIST) == 1  # the session's CSRF secret was made at sign-in
    assert first == second == third and "Aurora Bio" in third


def test_a_change_in_the_rows_shows_on_the_next_visit(app: Flask, reviewer_client: FlaskClient,
                                                      reviewer: User) -> None:
    application_id = assigned(reviewer)
    the_list(reviewer_client)
    assert "Not started" in the_list(reviewer_client)
    db.session.add(Review(application_id=application_id, reviewer_id=reviewer.id, state="submitted",
                          submitted_at=utcnow()))
    db.session.commit()
    page = the_list(reviewer_client)
    assert "Submitted" in page and "Not started" not in page
    assigned(reviewer, company="Borealis Therapeutics")
    assert "Borealis Therapeutics" in the_list(reviewer_client)


def test_the_overdue_badge_appears_when_the_due_moment_passes(monkeypatch: pytest.MonkeyPatch,
                                                              reviewer_client: FlaskClient, reviewer: User) -> None:
    due = utcnow() + dt.timedelta(hours=2)
    assigned(reviewer, due_at=due)
    before = the_list(reviewer_client)
    assert "Overdue" not in before and "Overdue" not in the_list(reviewer_client)  # kept
    monkeypatch.setattr(review_routes, "utcnow", lambda: due + dt.timedelta(seconds=1))
    assert "Overdue" in the_list(reviewer_client)


def test_each_browser_gets_forms_with_its_own_csrf_token(app: Flask, make_user: Callable[..., User]) -> None:
    """One reviewer signed in on two browsers: the same rows, the same person. The page kept for
    one browser would hand the other a token its session refuses."""
    make_user(Role.REVIEWER, email="two-browsers@example.org")
    browsers = []
    for _ in range(2):
        browser = app.test_client()
        log_in(browser, "two-browsers@example.org", PASSWORD)
        the_list(browser)
        browsers.append(browser)
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', the_list(browser)) for browser in browsers]
    for browser, token in zip(browsers, tokens, strict=True):
        assert token
        response = browser.post("/language", data={"locale": "en", "next": "/review/", "csrf_token": token.group(1)})
        assert response.status_code == 302, response.status_code


def test_a_new_name_shows_at_once(app: Flask, reviewer_client: FlaskClient, reviewer: User) -> None:
    the_list(reviewer_client)
    assert "Kari Reviewer-Renamed" not in the_list(reviewer_client)
    reviewer.name = "Kari Reviewer-Renamed"
    db.session.commit()
    assert "Kari Reviewer-Renamed" in the_list(reviewer_client)


def test_another_language_gets_its_own_page(reviewer_client: FlaskClient, reviewer: User) -> None:
    assigned(reviewer)
    the_list(reviewer_client)
    assert "Not started" in the_list(reviewer_client)
    reviewer_client.post("/language", data={"locale": "sv", "next": "/review/",
                                            "csrf_token": csrf_token(reviewer_client, "/review/")})
    page = the_list(reviewer_client)
    assert "Not started" not in page and 'lang="sv"' in page


def test_the_language_form_returns_to_the_url_asked_for(reviewer_client: FlaskClient, reviewer: User) -> None:
    assigned(reviewer)
    the_list(reviewer_client)
    the_list(reviewer_client)
    page = the_list(reviewer_client, "?page=1")
    assert 'name="next" value="/review/?page=1"' in page


def test_a_flashed_message_shows_once_and_is_never_kept(app: Flask, reviewer_client: FlaskClient,
                                                        reviewer: User) -> None:
    the_list(reviewer_client)
    the_list(reviewer_client)  # kept
    with reviewer_client.session_transaction() as session:
        session["_flashes"] = [("info", "Your profile is saved.")]
    assert "Your profile is saved." in the_list(reviewer_client)
    assert "Your profile is saved." not in the_list(reviewer_client)


def test_nothing_is_kept_when_the_setting_is_zero(app: Flask, reviewer_client: FlaskClient) -> None:
    app.config["PAGE_MEMO_BYTES"] = 0
    with renderings(app) as rendered:
        for _ in range(3):
            the_list(reviewer_client)
    assert rendered.count(LIST) == 3


def test_the_store_drops_the_least_recently_used_beyond_its_bytes() -> None:
    now = utcnow()
    store = RenderedPages(max_bytes=10)
    store.put("a", "aaaa", None)
    store.put("b", "bbbb", None)
    assert store.get("a", now) == "aaaa"  # "a" is now the more recently used
    store.put("c", "cccc", None)
    assert store.get("b", now) is None and store.get("a", now) == "aaaa" and store.get("c", now) == "cccc"
    store.put("huge", "x" * 11, None)  # larger than the whole store: not kept, nothing dropped
    assert store.get("huge", now) is None and len(store) == 2


def test_a_rendering_is_not_served_from_its_valid_until_on() -> None:
    now = utcnow()
    store = RenderedPages(max_bytes=100)
    store.put("board", "<p>3 overdue</p>", now + dt.timedelta(minutes=5))
    assert store.get("board", now + dt.timedelta(minutes=4)) == "<p>3 overdue</p>"
    assert store.get("board", now + dt.timedelta(minutes=5)) is None and len(store) == 0
