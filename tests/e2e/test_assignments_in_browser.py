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


def test_manager_finds_and_assigns_through_the_suggestion_fields(page: Page, live_app: Flask,
                                                                 live_server: str) -> None:
    with live_app.app_context():
        db.session.add(User(email="manager@occ.example", name="Mona Manager", role=Role.MANAGER.value,
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()
        call = make_call(reviewers_per_application=1)
        for name in ("Alpha Onc", "Beta Rad", "Gamma Dx"):
            make_application(make_applicant(), call, state="submitted", complete=True, company_name=name)
        reviewer = make_reviewer()
        call_id, reviewer_name, reviewer_email = call.id, reviewer.name, reviewer.email

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
