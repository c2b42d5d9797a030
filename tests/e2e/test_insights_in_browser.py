"""In Chromium: a manager opens a call's insights from the call page and the dashboard across
calls, reads the pictures and their tables, and downloads both reports of each.

Run with INSIGHTS_SCREENSHOTS=<directory> to save full-page screenshots of both dashboards
(how docs/insights-*.png were made)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from flask import Flask
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import User
from incubator.services.passwords import hash_password
from tests.e2e.second_factor import sign_in, sign_out
from tests.insights_data import build_known_call

pytestmark = pytest.mark.browser

PASSWORD = "insights for the board 2026"


def screenshot(page: Page, name: str) -> None:
    directory = os.environ.get("INSIGHTS_SCREENSHOTS")
    if directory:
        page.screenshot(path=str(Path(directory) / name), full_page=True)


def download(page: Page, link_name: str) -> tuple[str, bytes]:
    with page.expect_download() as event:
        page.get_by_role("link", name=link_name).click()
    file = event.value
    return file.suggested_filename, Path(file.path()).read_bytes()


def test_manager_reads_the_dashboards_and_downloads_the_reports(page: Page, live_app: Flask,
                                                                live_server: str) -> None:
    with live_app.app_context():
        db.session.add(User(email="manager@occ.example", name="Mona Manager", role=Role.MANAGER.value,
                            password_hash=hash_password(PASSWORD)))
        db.session.commit()
        known = build_known_call()
        call_id, title = known.call.id, known.call.title

    sign_in(page, live_server, "manager@occ.example", PASSWORD)
    page.goto(f"{live_server}/manage/calls/{call_id}")
    page.get_by_role("link", name="Insights: funnel, scores, reviewers, time to decision").click()
    expect(page.get_by_role("heading", name=f"Insights: {title}")).to_be_visible()
    funnel = page.locator("#funnel-table")
    expect(funnel.get_by_role("row", name="Submitted 5")).to_be_visible()
    expect(page.get_by_role("img", name="Funnel")).to_be_visible()
    expect(page.locator("#reviewers-table")).to_contain_text("Ada Reviewer")
    screenshot(page, "insights-call.png")

    name, content = download(page, "Download report (PDF)")
    assert name == f"call-{call_id}-report.pdf" and content.startswith(b"%PDF-")
    name, content = download(page, "Download report (spreadsheet)")
    assert name == f"call-{call_id}-report.xlsx"
    assert load_workbook(io.BytesIO(content))["Funnel"]["B3"].value == 6

    page.get_by_role("link", name="Across calls and years").click()
    page.get_by_role("combobox", name="Year").select_option("2026")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page.get_by_role("heading", name="Insights for 2026")).to_be_visible()
    expect(page.locator("#countries-table")).to_contain_text("Norway")
    expect(page.get_by_role("img", name="Applications by country")).to_be_visible()
    screenshot(page, "insights-year.png")
    name, content = download(page, "Download report (PDF)")
    assert name == "report-2026.pdf" and content.startswith(b"%PDF-")
    name, content = download(page, "Download report (spreadsheet)")
    assert name == "report-2026.xlsx"
    load_workbook(io.BytesIO(content))
    sign_out(page)
