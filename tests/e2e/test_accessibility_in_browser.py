"""Every role's main pages on a 390 px phone, in Chromium, on the seeded demo (with its showcase):
axe-core finds no WCAG 2.1 A/AA violation and no page scrolls sideways. Also a keyboard-only
run (Tab, Enter, Space) through login and one application step."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.applications import STEP_SLUGS
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, Offer, Slot, User
from incubator.services.demo import DEMO_PASSWORD, seed_demo_data
from tests.e2e.second_factor import finish_second_factor
from tests.factories_reviews import make_assignment
from tests.support.browser import CONTEXT_DEFAULTS, assert_accessible, watch_accessibility

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


@dataclass(frozen=True)
class Demo:
    open_call_id: int
    open_call_slug: str
    previous_call_id: int
    founder_email: str
    application_id: int
    offer_id: int
    to_review_id: int
    decided_id: int
    slot_id: int
    admin_id: int


def seed(app: Flask) -> Demo:
    """The demo with its showcase, plus one open-call application assigned to the demo reviewer."""
    with app.app_context():
        now = utcnow()
        seed_demo_data(now, showcase=True)
        db.session.flush()
        calls = db.session.scalars(select(Call).order_by(Call.id)).all()
        open_call = next(call for call in calls if call.is_open(now))
        previous = next(call for call in calls if call.id != open_call.id)
        offer = db.session.scalar(select(Offer).order_by(Offer.id))
        accepted = db.session.get(Application, offer.application_id)
        founder = db.session.get(User, accepted.applicant_id)
        reviewer = db.session.scalar(select(User).where(User.email == "reviewer@demo.example"))
        to_review = db.session.scalar(select(Application).where(Application.call_id == open_call.id)
                                      .order_by(Application.id))
        if db.session.scalar(select(Assignment).where(Assignment.application_id == to_review.id,
                                                      Assignment.reviewer_id == reviewer.id)) is None:
            make_assignment(to_review, reviewer)
        admin = db.session.scalar(select(User).where(User.email == "admin@demo.example"))
        demo = Demo(open_call.id, open_call.slug, previous.id, founder.email, accepted.id, offer.id,
                    to_review.id, accepted.id, db.session.scalar(select(Slot.id).order_by(Slot.id)), admin.id)
        db.session.commit()
        return demo


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    assert_accessible(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    if "/login/code" in page.url or "/two-factor/setup" in page.url:
        assert_accessible(page)
    finish_second_factor(page, email)


def visit_all(page: Page, base: str, paths: list[str]) -> None:
    """Each page on a phone and on a desktop: the navigation shows its links only on the wider one."""
    for path in paths:
        page.set_viewport_size(PHONE)
        response = page.goto(base + path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        assert_accessible(page)
        page.set_viewport_size(DESKTOP)
        assert_accessible(page)


def pages_for(role: str, demo: Demo) -> list[str]:
    common = ["/notifications/", "/account/sessions", "/account/two-factor", "/password/change"]
    call, previous = demo.open_call_id, demo.previous_call_id
    return {
        "visitor": ["/", "/calls", f"/calls/{demo.open_call_slug}", "/register", "/password/forgot"],
        "applicant": ["/dashboard", f"/applications/{demo.application_id}", f"/offers/{demo.offer_id}",
                      "/account/privacy", "/account/erase", *common],
        "reviewer": ["/review/", f"/review/applications/{demo.to_review_id}", "/review/bidding",
                     f"/review/calls/{call}/bids", "/review/profile", *common],
        "manager": ["/manage/", "/manage/calls", f"/manage/calls/{call}", f"/manage/calls/{call}/preview",
                    f"/manage/calls/{call}/edit", f"/manage/calls/{call}/rubric", f"/manage/calls/{call}/questions",
                    f"/manage/calls/{call}/pool", f"/manage/calls/{call}/assignments",
                    f"/manage/calls/{call}/reminders", f"/manage/calls/{previous}/ranking",
                    f"/manage/calls/{previous}/decisions", f"/manage/calls/{previous}/match",
                    f"/manage/applications/{demo.decided_id}/committee", "/manage/occupancy",
                    "/manage/residencies", "/manage/slots", f"/manage/slots/{demo.slot_id}/edit", "/manage/sites",
                    "/manage/programmes", "/manage/calls/new", "/manage/programmes/new", "/manage/sites/new",
                    "/manage/slots/new", f"/manage/calls/{previous}", *common],
        "admin": ["/admin/users", f"/admin/users/{demo.admin_id}", "/admin/outbox", "/admin/outbox/failed",
                  "/admin/audit", *common],
    }[role]


EMAILS = {"applicant": None, "reviewer": "reviewer@demo.example", "manager": "manager@demo.example",
          "admin": "admin@demo.example"}


@pytest.mark.parametrize("role", ["visitor", "applicant", "reviewer", "manager", "admin"])
def test_every_main_page_passes_axe_and_fits_a_phone(page: Page, live_app: Flask, live_server: str,
                                                     role: str) -> None:
    demo = seed(live_app)
    page.set_viewport_size(DESKTOP)
    if role == "visitor":
        page.goto(f"{live_server}/login")
        assert_accessible(page)
    else:
        log_in(page, live_server, EMAILS[role] or demo.founder_email)
    visit_all(page, live_server, pages_for(role, demo))


def test_keyboard_only_login_and_one_application_step(page: Page, live_app: Flask, live_server: str) -> None:
    demo = seed(live_app)
    page.goto(f"{live_server}/login")
    expect(page.get_by_label("Email")).to_be_focused()  # the login form puts the cursor in its first field
    page.keyboard.type("founder@demo.example")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(DEMO_PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.goto(f"{live_server}/calls/{demo.open_call_slug}")
    assert_accessible(page)
    tab_to(page, page.get_by_role("button", name="Start an application"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert "/steps/" in page.url
    assert_accessible(page)
    tab_to(page, page.get_by_label("Company name"))
    page.keyboard.type("Keyboard Bio AS")
    tab_to(page, page.get_by_role("button", name="Save and continue"))
    page.keyboard.press("Space")
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert_accessible(page)
    # Every other step of the draft too, on a phone and on a desktop.
    application_path = page.url.split("/steps/")[0].removeprefix(live_server)
    visit_all(page, live_server, [f"{application_path}/steps/{slug}" for slug in STEP_SLUGS])
    visit_all(page, live_server, ["/dashboard", application_path])

    # On a phone the step list is folded into one line, so the form starts above the fold;
    # on a desktop it is open beside the form.
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}{application_path}/steps/company")
    steps = page.get_by_role("navigation", name="Application steps")
    expect(steps.get_by_role("link", name="Team")).to_be_hidden()
    expect(page.get_by_label("Company name")).to_be_in_viewport()
    page.set_viewport_size(DESKTOP)
    page.reload()
    expect(steps.get_by_role("link", name="Team")).to_be_visible()


def tab_to(page: Page, target, limit: int = 60) -> None:
    """Press Tab until ``target`` has the focus, as a keyboard user would."""
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {target}")


def test_a_failed_review_submit_moves_the_focus_to_its_error_summary(page: Page, live_app: Flask,
                                                                    live_server: str) -> None:
    demo = seed(live_app)
    page.set_viewport_size(DESKTOP)
    log_in(page, live_server, "reviewer@demo.example")
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server}/review/applications/{demo.to_review_id}")
    criteria = page.locator("fieldset.criterion")
    heights = [box["height"] for box in (criteria.nth(i).bounding_box() for i in range(criteria.count()))]
    # Six criteria with twelve levels each stacked 6,600 px on a phone; a row of buttons each is compact.
    assert len(heights) == 6 and sum(heights) < 6 * 300, heights
    page.get_by_role("button", name="Submit review").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_be_in_viewport()  # not 1,000 px below, as before
    assert_accessible(page)
    # Following a link in the summary lands on the field with the error.
    summary.get_by_role("link").first.click()
    target = summary.get_by_role("link").first.get_attribute("href")
    assert page.evaluate("() => location.hash") == target


BAD_PAGE = ('<html><head></head><body><img src="x.png">'
            '<div style="width:3000px">wider than any phone</div></body></html>')


def test_the_checks_catch_a_page_that_breaks_the_rules(browser, live_server: str) -> None:
    """Guards of the guards: a page without title, lang or alt text and too wide fails both checks."""
    context = browser.new_context(viewport=PHONE, **CONTEXT_DEFAULTS)
    try:
        page = context.new_page()
        problems = watch_accessibility(page)
        page.route("**/bad", lambda route: route.fulfill(content_type="text/html", body=BAD_PAGE))
        page.goto(f"{live_server}/bad")
        with pytest.raises(AssertionError) as failure:
            assert_accessible(page)
        assert "image-alt" in str(failure.value)
        page.evaluate("() => document.querySelector('img').alt = 'x'")
        page.evaluate("() => { document.title = 't'; document.documentElement.lang = 'en'; }")
        with pytest.raises(AssertionError, match="scrolls sideways"):
            assert_accessible(page)
        # The watcher ran axe by itself when the page loaded, before anything above was changed.
        for _ in range(50):
            if any("image-alt" in p for p in problems) and any("sideways" in p for p in problems):
                break
            page.wait_for_timeout(100)
        assert any("image-alt" in p for p in problems) and any("sideways" in p for p in problems), problems
    finally:
        context.close()
