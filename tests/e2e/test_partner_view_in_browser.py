"""In Chromium: an administrator limits a manager to the BioVentureHub exchange; that manager
sees the exchange report with BioVentureHub's stays only, and an OCC-only call is not found."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Residency, User
from incubator.services.exchange import residency_direction
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in, sign_out
from tests.factories import make_application, make_call
from tests.integration.test_residencies_service import make_slot

pytestmark = pytest.mark.browser

PASSWORD = "partner view 2027"


def test_admin_limits_a_manager_who_then_sees_the_bioventurehub_exchange(
        page: Page, live_app: Flask, live_server: str) -> None:
    with live_app.app_context():
        admin = User(email="admin@occ.example", name="Ada Admin", role=Role.ADMIN.value,
                     password_hash=hash_password(PASSWORD))
        manager = User(email="hub@bvh.example", name="Britt Hub", role=Role.MANAGER.value,
                       password_hash=hash_password(PASSWORD))
        db.session.add_all([admin, manager])
        db.session.commit()
        call = make_call()
        occ, bvh = (entry.programme for entry in call.programmes)
        occ.exchange_for_country, bvh.exchange_for_country = "SE", "NO"
        occ_call = make_call()
        occ_call.programmes.pop(1)
        for country, programme, company in (("NO", 1, "Bergen Cell AS"), ("SE", 0, "Göteborg Onco AB")):
            founder = User(email=f"{country.lower()}@startup.example", name=company, role=Role.APPLICANT.value)
            db.session.add(founder)
            db.session.commit()
            application = make_application(founder, call, state="accepted", complete=True, country=country,
                                           company_name=company)
            slot = make_slot(call, programme=programme)
            db.session.add(Residency(application_id=application.id, slot=slot, starts_on=dt.date(2027, 1, 1),
                                     ends_on=dt.date(2027, 10, 1),
                                     exchange_direction=residency_direction(application, slot)))
        db.session.commit()
        manager_id, occ_call_id = manager.id, occ_call.id

    sign_in(page, live_server, "admin@occ.example", PASSWORD)
    page.goto(f"{live_server}/admin/users/{manager_id}")
    page.get_by_label("BioVentureHub exchange").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Account of hub@bvh.example saved.")).to_be_visible()
    sign_out(page)

    sign_in(page, live_server, "hub@bvh.example", PASSWORD)
    page.goto(f"{live_server}/manage/")
    page.get_by_role("link", name="Exchange report").click()
    row = page.get_by_role("row", name="2027")
    expect(row).to_contain_text("1")
    expect(row.locator("td").nth(0)).to_have_text("1")  # Bergen Cell AS sent to Gothenburg
    expect(row.locator("td").nth(1)).to_have_text("9")
    expect(row.locator("td").nth(2)).to_have_text("0")  # Oslo's Swedish resident is OCC's
    page.goto(f"{live_server}/manage/calls/{occ_call_id}")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
