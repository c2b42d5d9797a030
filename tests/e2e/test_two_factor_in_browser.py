"""In Chromium: a programme manager enrols in two-factor sign-in from the key on the set-up
page, signs in again with a real TOTP code, cannot reuse that code, and gets in with a
recovery code."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import User
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import ENROLLED, enrol_in_browser, type_current_code

pytestmark = pytest.mark.browser

EMAIL = "mona@occ.example"
PASSWORD = "two factors are better"


def password_step(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()


def test_manager_enrols_signs_in_with_totp_reused_code_refused_recovery_code_works(
        page: Page, live_app: Flask, live_server: str) -> None:
    with live_app.app_context():
        db.session.add(User(email=EMAIL, name="Mona Manager", role=Role.MANAGER.value,
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()

    password_step(page, live_server)
    expect(page).to_have_url(f"{live_server}/account/two-factor/setup")
    page.goto(f"{live_server}/manage/")  # nothing private before the second factor
    expect(page).to_have_url(f"{live_server}/account/two-factor/setup")
    qr = page.get_by_role("img", name="QR code for your authenticator app")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/svg+xml")
    assert page.evaluate("document.querySelector('img.border').naturalWidth") > 0  # the CSP let it draw
    recovery_codes = enrol_in_browser(page, EMAIL)
    assert len(recovery_codes) == 10
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.get_by_role("link", name="Calls and slots")).to_be_visible()
    log_out(page)

    password_step(page, live_server)
    expect(page.get_by_role("heading", name="Two-factor code")).to_be_visible()
    used_code = type_current_code(page, EMAIL)
    expect(page.get_by_role("link", name="Calls and slots")).to_be_visible()
    log_out(page)

    password_step(page, live_server)
    page.get_by_label("Code", exact=True).fill(used_code)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert").or_(page.locator(".invalid-feedback")).first).to_contain_text(
        "That code is not valid")
    expect(page.get_by_role("link", name="Calls and slots")).to_have_count(0)

    page.get_by_label("Code", exact=True).fill(recovery_codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("Recovery code used; 9 are left.")).to_be_visible()
    expect(page.get_by_role("link", name="Calls and slots")).to_be_visible()
    ENROLLED.pop(EMAIL, None)
