"""Issue 12 end to end in Chromium: a founder starts an application and invites a co-founder by
email, who joins, completes the steps and submits; after the committee accepts and the team
accepts an offer for a BioVentureHub slot, the BioVentureHub manager sees the resident (and not
the OCC-only one), records Innovation Norway support and a check-in, and sees them listed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.applications import ApplicationState
from incubator.domain.check_ins import check_in_dates
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call, Programme, Residency, Slot, User
from incubator.services import decisions, offers
from incubator.services.demo import DEMO_PASSWORD
from tests.e2e.second_factor import sign_in, sign_out
from tests.e2e.test_teams_in_browser import submit_as_a_team
from tests.factories import make_application

pytestmark = pytest.mark.browser


def _user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def _programme(slug: str) -> Programme:
    return db.session.scalars(select(Programme).where(Programme.slug == slug)).one()


def _slot(programme: Programme, label: str, starts_on: dt.date) -> Slot:
    slot = Slot(programme=programme, site=programme.host_site, label=label, space_type="office_lab", capacity=2,
                starts_on=starts_on, ends_on=starts_on.replace(year=starts_on.year + 3))
    db.session.add(slot)
    db.session.flush()
    return slot


def accept_and_place(app: Flask, application_id: int, starts_on: dt.date) -> tuple[int, int]:
    """Decision, offer and acceptance through the services (their own pages have browser tests):
    the team takes a BioVentureHub place, and an OCC-only startup takes one in Oslo.

    The stays began a year ago so that check-ins are due: a live server's clock cannot be moved.
    Returns the ids of the two residencies (BioVentureHub, OCC-only).
    """
    with app.app_context():
        now = utcnow()
        manager, owner = _user("manager@demo.example"), _user("nora@radiotarget.no")
        application = db.session.get(Application, application_id)
        decisions.decide(manager, application, ApplicationState.ACCEPTED, now=now)
        decisions.release_decisions(manager, [application], now)
        bvh_slot = _slot(_programme("bioventurehub-exchange"), "BioVentureHub lab suite", starts_on)
        period = (starts_on, starts_on.replace(year=starts_on.year + 2))
        offer = offers.make_offer(application, bvh_slot, period, now + dt.timedelta(days=14), now, manager)
        resident = offers.accept_offer(owner, offer, now)

        # A startup that ranked only the OCC Incubator, resident in Oslo: not BioVentureHub's business.
        founder = User(email="founder@osloonly.example", name="Odd Oslo", role=Role.APPLICANT.value)
        db.session.add(founder)
        db.session.flush()
        call = db.session.get(Call, application.call_id)
        oslo_only = make_application(founder, call, state="accepted", complete=True, company_name="Oslo Only AS",
                                     decision_released_at=now)
        occ_slot = _slot(_programme("occ-incubator"), "OCC lab suite", starts_on)
        occ_resident = Residency(application=oslo_only, slot=occ_slot, state="active", starts_on=period[0],
                                 ends_on=period[1])
        db.session.add(occ_resident)
        db.session.commit()
        return resident.id, occ_resident.id


def test_team_submits_and_the_bioventurehub_manager_follows_the_resident(
        page: Page, live_app: Flask, live_server: str, tmp_path: Path) -> None:
    application_id = submit_as_a_team(page, live_app, live_server, tmp_path)
    sign_out(page)
    today = utcnow().date()
    starts_on = dt.date(today.year - 1, today.month, 1)
    residency_id, occ_residency_id = accept_and_place(live_app, application_id, starts_on)
    with live_app.app_context():
        assert db.session.get(Residency, residency_id).exchange_direction == "NO-SE"
    first_due = check_in_dates(starts_on, starts_on.replace(year=starts_on.year + 2))[0]

    sign_in(page, live_server, "bvh-manager@demo.example", DEMO_PASSWORD)  # limited to BioVentureHub
    page.goto(f"{live_server}/manage/residencies")
    table = page.locator("#residencies-table")
    expect(table).to_contain_text("BioVentureHub lab suite")
    expect(table).not_to_contain_text("Oslo Only AS")
    table.get_by_role("link", name="RadioTarget AS").click()
    expect(page.get_by_role("heading", name="Follow-up: RadioTarget AS")).to_be_visible()
    expect(page.locator("#exchange-direction")).to_contain_text("Norway → Sweden (NO→SE)")

    support = page.locator("form[action*='/support#']")
    support.get_by_label("Programme", exact=True).select_option("innovation_norway")
    support.get_by_label("Amount").fill("450000")
    support.get_by_label("Applied on").fill(f"{starts_on + dt.timedelta(days=10):%Y-%m-%d}")
    support.get_by_role("button", name="Add support").click()
    expect(page.locator("#support-table")).to_contain_text("Innovation Norway")
    expect(page.locator("#support-table")).to_contain_text("450,000 NOK")

    check_in = page.locator("form[action*='/check-ins#']")
    check_in.get_by_label("Check-in", exact=True).select_option(first_due.isoformat())
    check_in.get_by_label("Notes").fill("Radiolabelling moved to the Gothenburg lab; GMP partner found.")
    check_in.get_by_label("Milestones reached").fill("First batch released")
    check_in.get_by_role("button", name="Record check-in").click()
    expect(page.get_by_role("status").first).to_contain_text("Check-in recorded.")
    first_row = page.locator("#check-in-table tbody tr").first
    expect(first_row).to_contain_text("Britt Hubmanager")
    expect(first_row).to_contain_text("First batch released")

    # The OCC-only resident's page is not found for BioVentureHub's manager, even by its address.
    page.goto(f"{live_server}/manage/residencies/{occ_residency_id}")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
