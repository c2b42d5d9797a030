"""Passing the two-factor step in the browser the way a person with an authenticator app does:
the key is read from the enrolment page and codes are computed from it with pyotp."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.conftest import next_totp_step, totp_code

# email -> [secret, last used time step]; filled when the browser enrols, within one test run.
ENROLLED: dict[str, list] = {}


def enrol_in_browser(page: Page, email: str) -> list[str]:
    """On the set-up page: scan (read) the key, answer with its code; returns the recovery codes."""
    secret = page.locator("#totp-secret").inner_text().strip()
    step = next_totp_step(None)
    page.get_by_label("Code from your app").fill(totp_code(secret, step))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    ENROLLED[email] = [secret, step]
    return page.locator("#recovery-codes li").all_inner_texts()


def type_current_code(page: Page, email: str) -> str:
    secret, last_step = ENROLLED[email]
    step = next_totp_step(last_step)
    code = totp_code(secret, step)
    page.get_by_label("Code", exact=True).fill(code)
    page.get_by_role("button", name="Verify").click()
    ENROLLED[email][1] = step
    return code


def finish_second_factor(page: Page, email: str) -> None:
    """After the password: enrol if asked to, else type the current code; no-op otherwise."""
    if page.url.endswith("/account/two-factor/setup"):
        enrol_in_browser(page, email)
        page.get_by_role("link", name="I have saved them, continue").click()
    elif "/login/code" in page.url:
        type_current_code(page, email)
    else:
        return
    expect(page.get_by_role("link", name="Sessions")).to_be_visible()


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    """The login form as a person fills it, then the second factor when the role asks for it."""
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    finish_second_factor(page, email)  # staff: enrol on first sign-in, then a code each time


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You are logged out.")).to_be_visible()
