"""A startup applies end to end in Chromium: register, every step, a PDF, submit, the
confirmation email at a real SMTP server, then withdrawal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from incubator.database import utcnow
from incubator.extensions import db
from incubator.services.demo import seed_demo_data

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def live_app_config(smtp_server) -> dict:
    return {"MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port}


def test_startup_applies_submits_gets_email_and_withdraws(page: Page, live_app: Flask, live_server: str,
                                                        smtp_server, tmp_path: Path) -> None:
    with live_app.app_context():
        seed_demo_data(utcnow())
        db.session.commit()
    deck = tmp_path / "pitch-deck.pdf"
    deck.write_bytes(PDF)

    page.goto(f"{live_server}/register")
    page.get_by_label("Your name").fill("Nora Founder")
    page.get_by_label("Email").fill("nora@radiotarget.no")
    page.get_by_label("Password", exact=True).fill("targeted alpha therapy 2027")
    page.get_by_label("Repeat the password").fill("targeted alpha therapy 2027")
    page.get_by_role("button", name="Create account").click()
    page.get_by_label("Email").fill("nora@radiotarget.no")
    page.get_by_label("Password").fill("targeted alpha therapy 2027")
    page.get_by_role("button", name="Log in").click()

    page.get_by_role("link", name="Residency intake").first.click()
    page.get_by_role("button", name="Start an application").click()

    page.get_by_label("Company name").fill("RadioTarget AS")
    page.get_by_label("Country of registration").select_option("NO")
    page.get_by_label("Organisation number").fill("912 345 688")
    page.get_by_label("Year founded").fill("2022")
    page.get_by_label("Number of employees").fill("5")
    page.get_by_label("Website").fill("https://radiotarget.no")
    page.get_by_role("button", name="Save and continue").click()

    page.get_by_label("Focus area").select_option("radiopharmaceuticals")
    page.get_by_label("Development stage").select_option("preclinical")
    page.get_by_label("Funding raised so far (EUR)").fill("800000")
    page.get_by_role("button", name="Save and continue").click()

    page.get_by_role("textbox", name="Team").fill("Two radiochemists and a clinical oncologist.")
    page.get_by_role("button", name="Save and continue").click()

    page.get_by_label("Project summary").fill("Alpha emitters on a PSMA ligand.")
    page.get_by_label("Unmet need").fill("Patients with metastatic castration-resistant prostate cancer.")
    page.get_by_role("button", name="Save and continue").click()

    page.get_by_label("Lab space").check()
    page.get_by_label("Access to industrial expertise").check()
    page.get_by_label("Space needed").select_option("office_lab")
    page.get_by_role("button", name="Save and continue").click()

    page.get_by_label("First choice").select_option(label="BioVentureHub exchange")
    page.get_by_label("Second choice (optional)").select_option(label="OCC Incubator")
    start = (utcnow().date().replace(day=1) + dt.timedelta(days=95)).strftime("%Y-%m")
    page.get_by_label("Desired start month").fill(start)
    page.get_by_label("Desired length").select_option("12")
    page.get_by_role("button", name="Save and continue").click()

    page.get_by_label("PDF file").set_input_files(str(deck))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("link", name="pitch-deck.pdf")).to_be_visible()
    page.get_by_role("link", name="Continue").click()

    page.get_by_label("I consent").check()
    page.get_by_role("button", name="Submit application").click()
    expect(page.get_by_text("Your application is submitted.")).to_be_visible()
    expect(page.get_by_role("heading", name="RadioTarget AS")).to_contain_text("Submitted")

    welcome, email = smtp_server.wait_for(2, timeout=10)  # registering sent a welcome first
    assert "account is ready" in welcome["Subject"]
    assert email["To"] == "nora@radiotarget.no"
    assert "Application received" in email["Subject"]
    assert "RadioTarget AS" in email.get_content()

    page.get_by_role("link", name="Withdraw").click()
    page.get_by_label("Reason (optional)").fill("We joined another programme.")
    page.get_by_role("button", name="Withdraw application").click()
    expect(page.get_by_text("Your application is withdrawn.")).to_be_visible()
    expect(page.get_by_text("We joined another programme.")).to_be_visible()
