"""In Chromium: a manager searches the assignment board, picks an application and a reviewer
through the suggestion fields (static/js/suggest.js fills them from the server) and assigns;
the board then shows the reviewer on that application."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import User
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_reviewer

pytestmark = pytest.mark.browser

PASSWORD = "assign the reviewers 2027"


def _manager_and_call(live_app: Flask) -> int:
    with live_app.app_context():
        db.session.add(User(email="manager@occ.example", name="Mona Manager", role=Role.MANAGER.value,
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()
        call = make_call(reviewers_per_application=1)
        for name in ("Alpha Onc", "Beta Rad", "Gamma Dx"):
            make_application(make_applicant(), call, state="submitted", complete=True, company_name=name)
        return call.id


def test_manager_finds_and_assigns_through_the_suggestion_fields(page: Page, live_app: Flask,
                                                                 live_server: str) -> None:
    call_id = _manager_and_call(live_app)
    with live_app.app_context():
        reviewer = make_reviewer()
        reviewer_name, reviewer_email = reviewer.name, reviewer.email

    sign_in(page, live_server, "manager@occ.example", PASSWORD)
    page.goto(f"{live_server}/manage/calls/{call_id}/assignments")
    page.get_by_label("Company or number").fill("rad")
    page.get_by_role("button", name="Search").first.click()
    expect(page.get_by_role("row").filter(has_text="Beta Rad")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Alpha Onc")).to_have_count(0)

    form = page.locator("form").filter(has=page.get_by_role("button", name="Assign", exact=True))
    form.get_by_label("Application").fill("gamma")
    expect(page.locator("#assign-application_id-suggestions option")).to_have_count(1)
    choice = page.locator("#assign-application_id-suggestions option").get_attribute("value")
    assert choice is not None and choice.startswith("Gamma Dx (#")
    form.get_by_label("Application").fill(choice)
    form.get_by_label("Reviewer").fill(reviewer_email[:10])
    expect(page.locator("#assign-reviewer_id-suggestions option")).to_have_text(reviewer_email)
    form.get_by_label("Reviewer").fill(reviewer_email)
    form.get_by_role("button", name="Assign", exact=True).click()

    expect(page.get_by_text(f"{reviewer_name} now reviews Gamma Dx.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Gamma Dx")).to_contain_text(reviewer_name)


def test_text_typed_before_the_script_arrives_still_gets_suggestions(page: Page, live_app: Flask,
                                                                      live_server: str) -> None:
    """On a slow connection a manager types before static/js/suggest.js has run; the script then
    looks up what is already in the focused field instead of waiting for the next keystroke."""
    call_id = _manager_and_call(live_app)
    sign_in(page, live_server, "manager@occ.example", PASSWORD)
    page.route("**/static/js/suggest.js*", lambda route: route.abort())
    page.goto(f"{live_server}/manage/calls/{call_id}/assignments")
    form = page.locator("form").filter(has=page.get_by_role("button", name="Assign", exact=True))
    form.get_by_label("Application").fill("gamma")
    page.unroute("**/static/js/suggest.js*")
    page.add_script_tag(url=f"{live_server}/static/js/suggest.js")  # the script arrives late
    expect(page.locator("#assign-application_id-suggestions option")).to_have_count(1)
