"""A manager sets up the next intake in Chromium: clones the demo call, moves its closing date,
adds a programme and a required question, previews and publishes; a new startup then applies,
answers the question and submits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Application, Call, QuestionAnswer
from incubator.services.demo import DEMO_PASSWORD, seed_demo_data
from tests.e2e.second_factor import sign_in

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def log_in(page: Page, base: str, email: str, password: str = DEMO_PASSWORD) -> None:
    sign_in(page, base, email, password)


def manager_sets_up_the_call(page: Page, base: str) -> None:
    log_in(page, base, "manager@demo.example")
    page.goto(f"{base}/manage/programmes")
    page.get_by_label("New partner organisation").fill("Oslo Science City")
    page.get_by_role("button", name="Add partner").click()
    expect(page.get_by_text("Partner added.")).to_be_visible()
    page.get_by_role("link", name="New programme").click()
    page.get_by_label("Name").fill("Science City fellowship")
    page.get_by_label("Slug").fill("science-city-fellowship")
    page.get_by_label("Partner organisation that runs it").select_option(label="Oslo Science City")
    page.get_by_label("Host site").select_option(index=1)
    page.get_by_label("What residents get, one per line").fill("office\nmentoring")
    page.get_by_role("button", name="Save programme").click()
    expect(page.get_by_role("link", name="Science City fellowship")).to_be_visible()

    page.goto(f"{base}/manage/calls")
    page.get_by_role("link", name="Clone").first.click()
    page.get_by_label("Title of the new call").fill("Autumn intake")
    page.get_by_label("Slug of the new call").fill("autumn-intake")
    page.get_by_role("button", name="Clone into a new draft").click()
    expect(page.get_by_text("A new draft was made from")).to_be_visible()

    later = (utcnow() + dt.timedelta(days=60)).astimezone(ZoneInfo("Europe/Oslo"))
    page.get_by_label("Closes").fill(later.strftime("%Y-%m-%dT12:00"))
    page.get_by_label("Reviews due").fill((later + dt.timedelta(days=20)).strftime("%Y-%m-%dT12:00"))
    page.get_by_label("Decision date").fill((later + dt.timedelta(days=30)).strftime("%Y-%m-%d"))
    fellowship = page.get_by_role("group", name="Science City fellowship")
    fellowship.get_by_label("Offered in this call").check()
    fellowship.get_by_label("Eligibility note").fill("Open to all")
    page.get_by_role("button", name="Save call").click()
    expect(page.get_by_text("Call saved.")).to_be_visible()

    page.get_by_role("link", name="Questions").click()
    page.get_by_label("Question", exact=True).fill("Which biosafety level does your lab work need?")
    page.get_by_label("Kind of answer").select_option("single_choice")
    page.get_by_label("Required to submit").check()
    page.get_by_label("Options, one per line (choice questions)").fill("BSL-1\nBSL-2\nBSL-3")
    page.get_by_role("button", name="Save question").click()
    expect(page.get_by_text("Question added.")).to_be_visible()

    page.get_by_role("link", name="Autumn intake").first.click()
    page.get_by_role("link", name="Preview as applicant").click()
    expect(page.get_by_text("Preview as applicant.")).to_be_visible()
    expect(page.get_by_role("heading", name="Science City fellowship")).to_be_visible()
    expect(page.get_by_text("Which biosafety level does your lab work need?")).to_be_visible()
    page.get_by_role("link", name="Back to the call").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("The call is now published.")).to_be_visible()
    page.get_by_role("button", name="Log out").click()


def startup_applies(page: Page, base: str, deck: Path) -> None:
    page.goto(f"{base}/register")
    page.get_by_label("Your name").fill("Ola Founder")
    page.get_by_label("Email").fill("ola@labstart.no")
    page.get_by_label("Password", exact=True).fill("bench space in oslo 2027")
    page.get_by_label("Repeat the password").fill("bench space in oslo 2027")
    page.get_by_role("button", name="Create account").click()
    log_in(page, base, "ola@labstart.no", "bench space in oslo 2027")  # registering does not sign in
    page.goto(base)
    page.get_by_role("link", name="Autumn intake").first.click()
    page.get_by_role("button", name="Start an application").click()

    page.get_by_label("Company name").fill("LabStart AS")
    page.get_by_label("Country of registration").select_option("NO")
    page.get_by_label("Organisation number").fill("923 111 220")
    page.get_by_label("Year founded").fill("2023")
    page.get_by_label("Number of employees").fill("3")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Focus area").select_option("diagnostics")
    page.get_by_label("Development stage").select_option("preclinical")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("textbox", name="Team").fill("A pathologist and an engineer.")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Project summary").fill("Liquid biopsy for early relapse.")
    page.get_by_label("Unmet need").fill("Relapse is found late.")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Lab space").check()
    page.get_by_label("Space needed").select_option("office_lab")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("First choice").select_option(label="Science City fellowship")
    start = (utcnow().date().replace(day=1) + dt.timedelta(days=95)).strftime("%Y-%m")
    page.get_by_label("Desired start month").fill(start)
    page.get_by_label("Desired length").select_option("12")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("PDF file").set_input_files(str(deck))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("link", name="pitch-deck.pdf")).to_be_visible()
    page.get_by_role("link", name="Continue").click()

    expect(page.get_by_role("heading", name="Questions for this call")).to_be_visible()
    page.get_by_role("button", name="Save and continue").click()  # a partial draft saves
    page.get_by_label("I consent").check()
    page.get_by_role("button", name="Submit application").click()
    expect(page.get_by_text("Some answers are missing: Which biosafety level does your lab work need?")).to_be_visible()
    page.get_by_role("navigation", name="Application steps").get_by_role("link", name="Questions for this call").click()
    page.get_by_label("BSL-2").check()
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("I consent").check()
    page.get_by_role("button", name="Submit application").click()
    expect(page.get_by_text("Your application is submitted.")).to_be_visible()
    expect(page.get_by_text("BSL-2")).to_be_visible()


def test_manager_clones_and_publishes_a_call_and_a_startup_answers_its_question(
        page: Page, live_app: Flask, live_server: str, tmp_path: Path) -> None:
    with live_app.app_context():
        seed_demo_data(utcnow())
        db.session.commit()
    deck = tmp_path / "pitch-deck.pdf"
    deck.write_bytes(PDF)

    manager_sets_up_the_call(page, live_server)
    startup_applies(page, live_server, deck)

    with live_app.app_context():
        call = db.session.scalar(select(Call).where(Call.slug == "autumn-intake"))
        assert call.state == "published"
        application = db.session.scalar(select(Application).where(Application.call_id == call.id))
        assert application.state == "submitted"
        assert [p.programme.name for p in application.preferences] == ["Science City fellowship"]
        [answer] = db.session.scalars(select(QuestionAnswer).where(QuestionAnswer.application_id == application.id))
        assert [option.label for option in answer.options] == ["BSL-2"]
