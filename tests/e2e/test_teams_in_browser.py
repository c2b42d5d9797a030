"""Co-applicants in Chromium: a founder starts an application and invites a co-founder by
email; the co-founder accepts, completes the remaining steps and submits."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, OutboundEmail, User
from incubator.services.demo import seed_demo_data
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in, sign_out

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PASSWORD = "two founders one company"


def founders(app: Flask) -> None:
    with app.app_context():
        seed_demo_data(utcnow())
        for name, email in (("Nora Founder", "nora@radiotarget.no"), ("Ola Cofounder", "ola@radiotarget.no")):
            db.session.add(User(email=email, name=name, role=Role.APPLICANT.value,
                                password_hash=hash_password(PASSWORD)))
        db.session.commit()


def invitation_link(app: Flask) -> str:
    with app.app_context():
        body = db.session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.kind == "member_invitation"))
    return re.search(r"https?://\S+/invitations/\S+", body).group(0)


def submit_as_a_team(page: Page, live_app: Flask, live_server: str, tmp_path: Path) -> int:
    """Nora starts RadioTarget's application and invites Ola by email; Ola joins, completes the
    steps and submits (first choice: the BioVentureHub exchange). Returns the application id;
    Ola is still signed in."""
    founders(live_app)
    deck = tmp_path / "pitch-deck.pdf"
    deck.write_bytes(PDF)

    sign_in(page, live_server, "nora@radiotarget.no", PASSWORD)
    page.get_by_role("link", name="Residency intake").first.click()
    page.get_by_role("button", name="Start an application").click()
    page.get_by_label("Company name").fill("RadioTarget AS")
    page.get_by_label("Country of registration").select_option("NO")
    page.get_by_label("Organisation number").fill("923 609 017")  # a typing error in the check digit
    page.get_by_role("button", name="Save and continue").click()
    expect(page.locator("#org_number-error")).to_contain_text("the check digit does not match")
    page.get_by_label("Organisation number").fill("923 609 016")
    page.get_by_label("Year founded").fill("2022")
    page.get_by_label("Number of employees").fill("5")
    page.get_by_role("button", name="Save and continue").click()
    expect(page.get_by_label("Focus area")).to_be_visible()
    application_id = int(re.search(r"/applications/(\d+)/", page.url).group(1))

    page.goto(f"{live_server}/applications/{application_id}")
    expect(page.get_by_text("923 609 016")).to_be_visible()  # shown as the register writes it
    page.get_by_role("link", name="Team").click()
    page.get_by_label("Their email address").fill("ola@radiotarget.no")
    page.get_by_label("Role").select_option("editor")
    page.get_by_role("button", name="Send the invitation").click()
    expect(page.get_by_text("Invitation sent to ola@radiotarget.no.")).to_be_visible()
    sign_out(page)

    sign_in(page, live_server, "ola@radiotarget.no", PASSWORD)
    page.goto(invitation_link(live_app).replace("http://127.0.0.1:5000", live_server))
    page.get_by_role("button", name="Join the application").click()
    expect(page.get_by_text("You joined the application.")).to_be_visible()
    page.get_by_role("link", name="Continue the draft").click()
    page.get_by_role("button", name="Save and continue").click()  # the founder's company step, kept

    page.get_by_label("Focus area").select_option("radiopharmaceuticals")
    page.get_by_label("Development stage").select_option("preclinical")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("textbox", name="Team").fill("Two radiochemists and a clinical oncologist.")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Project summary").fill("Alpha emitters on a PSMA ligand.")
    page.get_by_label("Unmet need").fill("Patients with metastatic castration-resistant prostate cancer.")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("Lab space").check()
    page.get_by_label("Space needed").select_option("office_lab")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("First choice").select_option(label="BioVentureHub exchange")
    start = (utcnow().date().replace(day=1) + dt.timedelta(days=95)).strftime("%Y-%m")
    page.get_by_label("Desired start month").fill(start)
    page.get_by_label("Desired length").select_option("12")
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_label("PDF file").set_input_files(str(deck))
    page.get_by_role("button", name="Upload").click()
    page.get_by_role("link", name="Continue").click()
    page.get_by_label("I consent").check()
    page.get_by_role("button", name="Submit application").click()
    expect(page.get_by_text("Your application is submitted.")).to_be_visible()
    expect(page.get_by_role("heading", name="RadioTarget AS")).to_contain_text("Submitted")
    return application_id


def test_founder_invites_a_cofounder_who_completes_a_step_and_submits(page: Page, live_app: Flask,
                                                                      live_server: str, tmp_path: Path) -> None:
    application_id = submit_as_a_team(page, live_app, live_server, tmp_path)
    page.get_by_role("link", name="Team").click()
    expect(page.locator("#members")).to_contain_text("Nora Founder")
    expect(page.locator("#members")).to_contain_text("Ola Cofounder")
    expect(page.get_by_role("button", name="Leave this application")).to_be_visible()
    sign_out(page)

    # The owner's side of the team page: the member's role, and answering offers, can be changed.
    sign_in(page, live_server, "nora@radiotarget.no", PASSWORD)
    page.goto(f"{live_server}/applications/{application_id}/members")
    page.get_by_label("May answer offers and withdraw").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#members")).to_contain_text("may answer offers and withdraw")
    with live_app.app_context():
        assert db.session.get(Application, application_id).state == "submitted"
        told = set(db.session.scalars(select(OutboundEmail.to_address).where(
            OutboundEmail.kind == "application_submitted")))
    assert told == {"nora@radiotarget.no", "ola@radiotarget.no"}
