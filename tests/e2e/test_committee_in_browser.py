"""In Chromium: a manager builds a call's reviewer pool and opens bidding; two reviewers bid;
automatic assignment follows the bids and the minimum load; a review comes in; the manager reads
it in the committee view, writes a committee note with a shared part, checks the release preview
and releases; the startup sees its decision with the shared note."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.reminders import zone_of
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Assignment, Call, ReviewerProfile, User
from incubator.services.demo import DEMO_PASSWORD, seed_demo_data
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in, sign_out
from tests.factories import make_application

pytestmark = pytest.mark.browser

PASSWORD = "reviewing is fun 2027"


def log_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    sign_in(page, base, email, password)


def log_out(page: Page) -> None:
    sign_out(page)


def reviewer(name: str, email: str, areas: list[str], expertise: str) -> User:
    user = User(email=email, name=name, role=Role.REVIEWER.value, password_hash=hash_password(PASSWORD))
    db.session.add(user)
    db.session.flush()
    db.session.add(ReviewerProfile(user_id=user.id, focus_areas=areas, expertise=expertise, max_load=5))
    return user


def bid(page: Page, application_id: int, level: str) -> None:
    row = page.locator(f"#bid-{application_id}")
    row.get_by_role("combobox").select_option(level)
    row.get_by_role("button", name="Save bid").click()
    expect(page.get_by_text("saved").first).to_be_visible()


def test_pool_bidding_assignment_committee_and_release(page: Page, live_app: Flask, live_server: str) -> None:
    with live_app.app_context():
        seed_demo_data(utcnow())
        call = db.session.scalar(select(Call))
        call.reviewers_per_application = 1
        founder = User(email="ola@immunex.no", name="Ola Founder", role=Role.APPLICANT.value,
                       password_hash=hash_password(PASSWORD))
        alice = reviewer("Alice Immuno", "alice@reviewers.example", ["immuno_oncology"],
                         "T cells, checkpoint inhibitors, cancer vaccines")
        bob = reviewer("Bob Device", "bob@reviewers.example", ["medtech"], "surgical devices, imaging")
        liv = User(email="liv@scalpel.example", name="Liv Scalpel", role=Role.APPLICANT.value)
        db.session.add_all([founder, liv])
        db.session.commit()
        immunex = make_application(founder, call, state="submitted", complete=True, company_name="ImmuneX AS",
                                   focus_area="immuno_oncology", website="https://immunex.no",
                                   project_summary="A cancer vaccine that primes T cells.")
        scalpel = make_application(liv, call,
                                   state="submitted", complete=True, company_name="ScalpelCo AS",
                                   focus_area="medtech", website="https://scalpel.example",
                                   project_summary="A surgical device that finds tumour margins.")
        call_id, call_title, immunex_id, scalpel_id = call.id, call.title, immunex.id, scalpel.id
        alice_id, bob_id = alice.id, bob.id
        criteria = [c.id for c in call.criteria]
        local_now = utcnow().astimezone(zone_of(call.timezone))

    # The manager builds the pool, sets Alice's loads and opens bidding.
    log_in(page, live_server, "manager@demo.example", DEMO_PASSWORD)
    page.goto(f"{live_server}/manage/calls/{call_id}")
    page.get_by_role("link", name="Reviewer pool, loads and bidding").click()
    for name in ("Alice Immuno", "Bob Device"):
        page.get_by_label("Name or email").fill(name.split()[0])
        page.get_by_role("button", name="Search").click()
        page.get_by_role("button", name=f"Add to pool {name}").click()
        expect(page.get_by_text(f"{name} is in the reviewer pool.")).to_be_visible()
    page.get_by_label("Minimum load of Alice Immuno").fill("1")
    page.get_by_label("Maximum load of Alice Immuno").fill("1")
    page.locator("tr", has_text="Alice Immuno").get_by_role("button", name="Save loads").click()
    expect(page.get_by_text("Loads of Alice Immuno saved.")).to_be_visible()
    page.get_by_label("Bidding opens").fill((local_now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Bidding closes").fill((local_now + dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Save bidding window").click()
    expect(page.get_by_text("Bidding window saved.")).to_be_visible()
    log_out(page)

    # Alice, the immunologist, does not want ImmuneX; Bob asks for it.
    log_in(page, live_server, "alice@reviewers.example")
    page.goto(f"{live_server}/review/")
    page.get_by_role("link", name="Bidding", exact=True).click()
    page.get_by_role("link", name=call_title).click()
    bid(page, immunex_id, "not_willing")
    bid(page, scalpel_id, "willing")
    log_out(page)
    log_in(page, live_server, "bob@reviewers.example")
    page.goto(f"{live_server}/review/calls/{call_id}/bids")
    bid(page, immunex_id, "eager")
    log_out(page)

    log_in(page, live_server, "manager@demo.example", DEMO_PASSWORD)
    page.goto(f"{live_server}/manage/calls/{call_id}/assignments")
    page.get_by_role("button", name="Assign automatically").click()
    expect(page.get_by_text("2 assignments made.")).to_be_visible()
    with live_app.app_context():
        pairs = set(db.session.execute(select(Assignment.reviewer_id, Assignment.application_id)).all())
    # Affinity alone would give ImmuneX to Alice; her "not willing" and Bob's bid decide.
    assert pairs == {(bob_id, immunex_id), (alice_id, scalpel_id)}
    log_out(page)

    log_in(page, live_server, "bob@reviewers.example")
    page.goto(f"{live_server}/review/")
    page.get_by_role("link", name="ImmuneX AS").click()
    for criterion_id in criteria:
        page.locator(f"input[name='score_{criterion_id}'][value='4'] + label").click()  # the button of level 4
    page.get_by_label("Comment for the committee").fill("Strong data; the IP is thin.")
    page.get_by_label("Your confidence in this review").select_option("3")
    page.get_by_role("button", name="Submit review").click()
    expect(page.get_by_text("Your review is submitted.")).to_be_visible()
    log_out(page)

    # The committee view, the note, the decision, the preview and the release.
    log_in(page, live_server, "manager@demo.example", DEMO_PASSWORD)
    page.goto(f"{live_server}/manage/calls/{call_id}/decisions")
    page.get_by_role("link", name="ImmuneX AS").click()
    review = page.locator(".committee-review")
    expect(review).to_contain_text("Bob Device")
    expect(review).to_contain_text("Strong data; the IP is thin.")
    expect(page.locator("#score-summary")).to_contain_text("4.00")
    page.get_by_label("Decision rationale (committee only)").fill("Accepted despite thin IP.")
    page.get_by_label("Part shared with the applicant (optional)").fill("Your T cell data impressed us.")
    page.get_by_role("button", name="Save note").click()
    expect(page.get_by_text("Committee note saved.")).to_be_visible()
    page.get_by_role("link", name="The application and its decision form").click()
    page.get_by_label("Decision", exact=True).select_option("accepted")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Decision recorded.")).to_be_visible()
    page.get_by_role("link", name="Preview and release the decisions").click()
    expect(page.locator("#count-accepted")).to_contain_text("1")
    expect(page.locator(".sample-body")).to_contain_text("Your T cell data impressed us.")
    expect(page.locator(".sample-body")).not_to_contain_text("thin IP")
    page.get_by_role("button", name="Release decisions and send the emails").click()
    expect(page.get_by_text("Tick the box to confirm the release.", exact=True)).to_be_visible()
    page.get_by_label("I have checked the counts and the emails; release the decisions now").check()
    page.get_by_role("button", name="Release decisions and send the emails").click()
    expect(page.get_by_text("1 decisions released")).to_be_visible()
    log_out(page)

    log_in(page, live_server, "ola@immunex.no")
    page.goto(f"{live_server}/applications/{immunex_id}")
    expect(page.get_by_role("heading", name="ImmuneX AS")).to_contain_text("Accepted")
    expect(page.locator("#committee-note")).to_have_text("Your T cell data impressed us.")
    expect(page.get_by_text("Accepted despite thin IP.")).to_have_count(0)
