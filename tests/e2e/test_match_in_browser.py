"""In Chromium: a manager computes the match for a call and confirms the offers; the startup
accepts its offer from the emailed link; the occupancy timeline shows the residency."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import OutboundEmail, Programme, Slot, User
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in
from tests.factories import make_application, make_call

pytestmark = pytest.mark.browser

PASSWORD = "residency match 2027"


def log_in(page: Page, base: str, email: str) -> None:
    sign_in(page, base, email, PASSWORD)


def test_manager_matches_startup_accepts_timeline_shows_it(page: Page, live_app: Flask, live_server: str) -> None:
    start = (utcnow().date().replace(day=1) + dt.timedelta(days=95)).replace(day=1)
    with live_app.app_context():
        manager = User(email="manager@occ.example", name="Mona Manager", role=Role.MANAGER.value,
                       password_hash=hash_password(PASSWORD))
        founder = User(email="founder@radiotarget.example", name="Nora Founder", role=Role.APPLICANT.value,
                       password_hash=hash_password(PASSWORD))
        db.session.add_all([manager, founder])
        db.session.commit()
        call = make_call()
        programme: Programme = call.programmes[0].programme
        db.session.add(Slot(programme=programme, site=programme.host_site, label="Radium lab benches",
                            space_type="office_lab", capacity=2, starts_on=start,
                            ends_on=start.replace(year=start.year + 2)))
        make_application(founder, call, state="accepted", complete=True, company_name="RadioTarget AS",
                         desired_start=start, desired_length_months=6, decision_released_at=utcnow())
        call_id = call.id

    log_in(page, live_server, "manager@occ.example")
    page.goto(f"{live_server}/manage/calls/{call_id}/match")
    page.get_by_role("button", name="Compute the match").click()
    expect(page.locator("#match-table")).to_contain_text("Radium lab benches")
    page.get_by_label(re.compile("^Slot \\(number or exact name")).fill("radium")  # suggestions from the server
    expect(page.locator("#slot-suggestions option")).to_have_count(1)
    expect(page.locator("#slot-suggestions option")).to_have_text("Radium lab benches")
    page.get_by_label("Days to answer").fill("10")
    page.get_by_role("button", name="Confirm and send the offers").click()
    expect(page.locator("#offers-to-send")).to_contain_text("RadioTarget AS")
    page.get_by_label("Send the offers now").check()
    page.get_by_role("button", name="Confirm and send the offers").click()
    expect(page.get_by_role("status").first).to_contain_text("1 offers sent")
    expect(page.locator("#offers")).to_contain_text("RadioTarget AS")
    page.get_by_role("button", name="Log out").click()

    with live_app.app_context():
        body = db.session.scalar(select(OutboundEmail.body_text).where(OutboundEmail.kind == "offer"))
    link = re.search(r"(/offers/\d+)", body).group(1)

    log_in(page, live_server, "founder@radiotarget.example")
    page.goto(f"{live_server}{link}")
    expect(page.get_by_role("heading", name=re.compile("Residency offer"))).to_be_visible()
    expect(page.get_by_text("Radium lab benches")).to_be_visible()
    page.get_by_role("button", name="Accept the place").click()
    expect(page.locator("#offer-state")).to_have_text("Accepted")
    page.get_by_role("button", name="Log out").click()

    log_in(page, live_server, "manager@occ.example")
    page.goto(f"{live_server}/manage/occupancy?start={start:%Y-%m}&months=12")
    timeline = page.locator("#occupancy-timeline")
    expect(timeline).to_contain_text("Radium lab benches")
    resident = timeline.locator("td.table-success", has_text="RadioTarget AS")
    expect(resident).to_have_attribute("colspan", "6")
    expect(timeline.locator("tfoot")).to_contain_text("50 %")
