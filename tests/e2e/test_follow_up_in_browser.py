"""In Chromium: after acceptance a manager opens the resident's follow-up page from the list of
residencies, records Innovation Norway support and its grant, and records a quarterly check-in."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from incubator.database import utcnow
from incubator.domain.check_ins import check_in_dates
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Programme, Residency, Slot, User
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in
from tests.factories import make_application, make_call

pytestmark = pytest.mark.browser

PASSWORD = "residents followed 2027"


def test_manager_records_support_and_a_check_in(page: Page, live_app: Flask, live_server: str) -> None:
    today = utcnow().date()
    starts_on = dt.date(today.year - 1, today.month, 1)  # a year in: check-ins are due
    with live_app.app_context():
        manager = User(email="manager@occ.example", name="Mona Manager", role=Role.MANAGER.value,
                       password_hash=hash_password(PASSWORD))
        founder = User(email="founder@cellsight.example", name="Nora Founder", role=Role.APPLICANT.value,
                       password_hash=hash_password(PASSWORD))
        db.session.add_all([manager, founder])
        db.session.commit()
        call = make_call()
        programme: Programme = call.programmes[0].programme
        slot = Slot(programme=programme, site=programme.host_site, label="Gothenburg lab bench",
                    space_type="office_lab", capacity=2, starts_on=starts_on,
                    ends_on=starts_on.replace(year=starts_on.year + 3))
        application = make_application(founder, call, state="accepted", complete=True, company_name="CellSight AB",
                                       decision_released_at=utcnow())
        db.session.add(slot)
        db.session.add(Residency(application=application, slot=slot, state="active", starts_on=starts_on,
                                 ends_on=starts_on.replace(year=starts_on.year + 2)))
        db.session.commit()
    first_due = check_in_dates(starts_on, starts_on.replace(year=starts_on.year + 2))[0]

    sign_in(page, live_server, "manager@occ.example", PASSWORD)
    page.goto(f"{live_server}/manage/residencies")
    page.get_by_role("link", name="CellSight AB").click()
    expect(page.get_by_role("heading", name="Follow-up: CellSight AB")).to_be_visible()

    support = page.locator("form[action*='/support#']")
    support.get_by_label("Programme", exact=True).select_option("innovation_norway")
    support.get_by_label("Amount").fill("-3")
    support.get_by_role("button", name="Add support").click()
    expect(page.get_by_role("alert")).to_contain_text("from 0 to 100,000,000,000")
    support = page.locator("form[action*='/support#']")
    support.get_by_label("Amount").fill("600000")
    support.get_by_label("Applied on").fill(f"{starts_on:%Y-%m-%d}")
    support.get_by_role("button", name="Add support").click()
    expect(page.locator("#support-table")).to_contain_text("Innovation Norway")
    expect(page.locator("#support-table")).to_contain_text("600,000 NOK")
    row = page.locator("#support-table tbody tr").first
    row.get_by_label("Status", exact=True).select_option("granted")
    row.get_by_label("Decided on").fill(f"{starts_on + dt.timedelta(days=40):%Y-%m-%d}")
    row.get_by_role("button", name="Update").click()
    expect(page.locator("#support-table")).to_contain_text("granted")

    check_in = page.locator("form[action*='/check-ins#']")
    check_in.get_by_label("Check-in", exact=True).select_option(first_due.isoformat())
    check_in.get_by_label("Notes").fill("Lab work on schedule; CMC partner chosen.")
    check_in.get_by_label("Milestones reached").fill("First in-vivo data")
    check_in.get_by_role("button", name="Record check-in").click()
    expect(page.get_by_role("status").first).to_contain_text("Check-in recorded.")
    expect(page.locator("#check-in-table tbody tr").first).to_contain_text("Mona Manager")
    expect(page.locator("#check-in-table tbody tr").first).to_contain_text("First in-vivo data")
