"""A startup registers, logs in, sees the dashboard and logs out, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_startup_registers_logs_in_sees_dashboard_and_logs_out(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="Create an account to apply").click()
    page.get_by_label("Your name").fill("Siri Startup")
    page.get_by_label("Email").fill("siri@cellcure.no")
    page.get_by_label("Password", exact=True).fill("a strong residency passphrase")
    page.get_by_label("Repeat the password").fill("a strong residency passphrase")
    page.get_by_role("button", name="Create account").click()
    # The same answer whether or not the address had an account: the next step is to log in.
    expect(page.get_by_text("We sent an email to siri@cellcure.no")).to_be_visible()
    assert page.url.endswith("/login")
    page.get_by_label("Email").fill("siri@cellcure.no")
    page.get_by_label("Password").fill("a strong residency passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Siri Startup")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert page.url.endswith("/login")

    page.get_by_label("Email").fill("siri@cellcure.no")
    page.get_by_label("Password").fill("a strong residency passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Welcome, Siri Startup")).to_be_visible()
    expect(page.get_by_role("heading", name="My applications")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    page.goto(f"{live_server}/dashboard")
    assert "/login" in page.url
    expect(page.get_by_text("Please log in to see that page.")).to_be_visible()


def test_wrong_password_shows_message_beside_the_form(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill("nobody@example.org")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("That email and password do not match an account.")
