"""Between submission and decision, in Chromium: a manager assigns automatically, a reviewer
scores, the manager sees the ranking and accepts; the applicant sees the decision and gets
the decision email at a real SMTP server."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, User
from incubator.services.demo import DEMO_PASSWORD, seed_demo_data
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in, sign_out
from tests.factories import make_application

pytestmark = pytest.mark.browser


@pytest.fixture
def live_app_config(smtp_server) -> dict:
    return {"MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port}


def log_in(page: Page, base: str, email: str, password: str = DEMO_PASSWORD) -> None:
    sign_in(page, base, email, password)


def log_out(page: Page) -> None:
    sign_out(page)


def test_manager_assigns_reviewer_scores_manager_ranks_and_accepts(page: Page, live_app: Flask, live_server: str,
                                                                  smtp_server) -> None:
    with live_app.app_context():
        seed_demo_data(utcnow())
        founder = User(email="ola@immunex.no", name="Ola Founder", role=Role.APPLICANT.value,
                       password_hash=hash_password("immune checkpoint 2027"))
        db.session.add(founder)
        db.session.commit()
        call = db.session.scalar(select(Call))
        application = make_application(founder, call, state="submitted", complete=True,
                                       company_name="ImmuneX AS", focus_area="immuno_oncology")
        call_id, application_id, criteria = call.id, application.id, [c.id for c in call.criteria]

    log_in(page, live_server, "manager@demo.example")
    page.goto(f"{live_server}/manage/calls/{call_id}/assignments")
    page.get_by_role("button", name="Assign automatically").click()
    expect(page.get_by_text("Rune Reviewer").first).to_be_visible()
    log_out(page)

    log_in(page, live_server, "reviewer@demo.example")
    page.goto(f"{live_server}/review/")
    page.get_by_role("link", name="ImmuneX AS").click()
    for criterion_id in criteria:
        page.locator(f"input[name='score_{criterion_id}'][value='4'] + label").click()  # the button of level 4
    page.get_by_label("Comment for the committee").fill("Strong team and data; IP needs work.")
    page.get_by_label("Comment for the applicant (optional)").fill("Impressive preclinical package.")
    page.get_by_label("Your confidence in this review").select_option("4")
    page.get_by_role("button", name="Submit review").click()
    expect(page.get_by_text("Impressive preclinical package.")).to_be_visible()
    log_out(page)

    log_in(page, live_server, "manager@demo.example")
    page.goto(f"{live_server}/manage/calls/{call_id}/ranking")
    row = page.get_by_role("row").filter(has_text="ImmuneX AS")
    expect(row).to_contain_text("4.00")
    page.get_by_role("link", name="ImmuneX AS").click()
    page.get_by_label("Decision", exact=True).select_option("accepted")
    page.get_by_label("Include the reviewers' comments for the applicant in the email").check()
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded.")).to_be_visible()
    page.get_by_role("link", name="Preview and release the decisions").click()
    page.get_by_label("I have checked the counts and the emails; release the decisions now").check()
    page.get_by_role("button", name="Release decisions and send the emails").click()
    expect(page.get_by_text("1 decisions released")).to_be_visible()
    log_out(page)

    log_in(page, live_server, "ola@immunex.no", "immune checkpoint 2027")
    page.goto(f"{live_server}/applications/{application_id}")
    expect(page.get_by_role("heading", name="ImmuneX AS")).to_contain_text("Accepted")

    emails = smtp_server.wait_for(2, timeout=15)  # the reviewer's assignment email, then the decision
    decision = next(message for message in emails if message["To"] == "ola@immunex.no")
    assert "accepted" in decision["Subject"]
    assert "Impressive preclinical package." in decision.get_content()
    assert "IP needs work" not in decision.get_content()
