"""Pages of the reminders issue: one-click unsubscribe, calendar feeds, the policy editor with
upcoming reminders, and resending failed emails."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import OutboundEmail, User
from incubator.models.reminders import CallReminderPolicy
from incubator.services import preferences, tokens
from tests.conftest import csrf_token, log_in
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer


def unsubscribe_path(user: User) -> str:
    return f"/unsubscribe/{tokens.unsubscribe_token(user.email)}"


def test_one_click_unsubscribe_without_logging_in(app: Flask, client: FlaskClient,
                                                  make_user: Callable[..., User]) -> None:
    user = make_user(Role.REVIEWER)
    page = client.get(unsubscribe_path(user))
    assert page.status_code == 200 and b"Unsubscribe</button>" in page.data
    assert not preferences.is_unsubscribed(user)  # a GET (e.g. a link scanner) changes nothing
    done = client.post(unsubscribe_path(user))  # no CSRF token: the signed link is the credential
    assert done.status_code == 200 and b"no more reminders" in done.data
    db.session.expire_all()
    assert preferences.is_unsubscribed(user)
    assert b"already unsubscribed" in client.get(unsubscribe_path(user)).data


def test_rfc8058_one_click_post_from_a_mail_client(app: Flask, client: FlaskClient,
                                                   make_user: Callable[..., User]) -> None:
    user = make_user(Role.APPLICANT)
    response = client.post(unsubscribe_path(user), data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    db.session.expire_all()
    assert preferences.is_unsubscribed(user)


def test_tampered_unsubscribe_link_is_refused_with_a_message(app: Flask, client: FlaskClient,
                                                             make_user: Callable[..., User]) -> None:
    user = make_user(Role.REVIEWER)
    for response in (client.get(unsubscribe_path(user) + "x"), client.post("/unsubscribe/not-a-token")):
        assert response.status_code == 404 and b"not valid" in response.data
    db.session.expire_all()
    assert not preferences.is_unsubscribed(user)


def test_settings_page_turns_reminders_back_on(app: Flask, reviewer_client: FlaskClient) -> None:
    user = reviewer_client.user  # type: ignore[attr-defined]
    preferences.unsubscribe(user)
    db.session.commit()
    page = reviewer_client.get("/notifications/")
    assert page.status_code == 200 and b"Get reminders again" in page.data
    token = csrf_token(reviewer_client, "/notifications/")
    assert reviewer_client.post("/notifications/subscription", data={"reminders": "on", "csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert not preferences.is_unsubscribed(user)
    assert reviewer_client.post("/notifications/subscription", data={"reminders": "maybe", "csrf_token": token}).status_code == 400
    assert reviewer_client.post("/notifications/subscription", data={"reminders": "off"}).status_code == 400  # no CSRF


def _feed_path(client: FlaskClient) -> str:
    page = client.get("/notifications/").get_data(as_text=True)
    match = re.search(r'value="http://localhost(/calendar/[^"]+\.ics)"', page)
    assert match, page
    return match.group(1)


def _calendar_action(client: FlaskClient, action: str) -> int:
    return client.post("/notifications/calendar",
                       data={"action": action, "csrf_token": csrf_token(client, "/notifications/")}).status_code


def test_reviewer_calendar_feed_behind_a_secret_revocable_url(app: Flask, reviewer_client: FlaskClient,
                                                              client: FlaskClient) -> None:
    reviewer = reviewer_client.user  # type: ignore[attr-defined]
    deadline = dt.datetime(2027, 3, 29, 10, 0, tzinfo=dt.UTC)
    call = make_call(opens_at=deadline - dt.timedelta(days=60), closes_at=deadline - dt.timedelta(days=30),
                     review_deadline=deadline)
    application = make_application(make_applicant(), call, state="submitted", company_name="Feed, Inc; AS")
    make_assignment(application, reviewer, due_at=deadline)
    assert b"You have no calendar address" in reviewer_client.get("/notifications/").data
    assert _calendar_action(reviewer_client, "rotate") == 302
    path = _feed_path(reviewer_client)
    feed = client.get(path)  # no login: calendar apps have none
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    text = feed.get_data(as_text=True)
    assert "BEGIN:VCALENDAR" in text and "DTSTART:20270329T100000Z" in text
    assert "SUMMARY:Review due: Feed\\, Inc\\; AS" in text and "\r\n" in text
    assert _calendar_action(reviewer_client, "rotate") == 302
    assert client.get(path).status_code == 404  # the old address stops working
    assert client.get(_feed_path(reviewer_client)).status_code == 200
    assert _calendar_action(reviewer_client, "revoke") == 302
    assert client.get(path).status_code == 404
    assert _calendar_action(reviewer_client, "explode") == 400
    assert client.get(f"/calendar/{reviewer.id}/guess.ics").status_code == 404


def test_manager_calendar_has_call_milestones_and_applicants_have_no_feed(
        app: Flask, manager_client: FlaskClient, applicant_client: FlaskClient, client: FlaskClient) -> None:
    call = make_call(review_deadline=utcnow() + dt.timedelta(days=50), decision_date=dt.date(2027, 5, 2))
    assert _calendar_action(manager_client, "rotate") == 302
    text = client.get(_feed_path(manager_client)).get_data(as_text=True)
    assert f"SUMMARY:Call closes: {call.title}" in text and "DTSTART;VALUE=DATE:20270502" in text
    assert applicant_client.post("/notifications/calendar", data={
        "action": "rotate", "csrf_token": csrf_token(applicant_client, "/notifications/")}).status_code == 403


def test_policy_editor_saves_and_refuses_bad_input(app: Flask, manager_client: FlaskClient) -> None:
    call = make_call(review_deadline=utcnow() + dt.timedelta(days=40))
    path = f"/manage/calls/{call.id}/reminders"
    page = manager_client.get(path)
    assert page.status_code == 200 and b'value="7, 2, 1"' in page.data
    form = {"csrf_token": csrf_token(manager_client, path), "enabled": "y", "reviewer_days_before": "10, 3",
            "overdue_every_days": "3", "overdue_max": "2", "escalate_with_overdue": "2",
            "applicant_days_before": "2", "manager_digest_weekday": "0", "manager_digest_hour": "9"}
    assert manager_client.post(path, data=form).status_code == 302
    db.session.expire_all()
    row = db.session.get(CallReminderPolicy, call.id)
    assert row.reviewer_days_before == [10, 3] and row.manager_digest_weekday == 0 and row.escalate_with_overdue == 2
    bad = manager_client.post(path, data={**form, "reviewer_days_before": "seven"})
    assert bad.status_code == 400 and b"not a whole number" in bad.data
    bad = manager_client.post(path, data={**form, "escalate_with_overdue": "5"})
    assert bad.status_code == 400 and b"escalation" in bad.data
    bad = manager_client.post(path, data={**form, "reviewer_days_before": "90"})
    assert bad.status_code == 400 and b"between 1 and 60" in bad.data
    assert manager_client.get("/manage/calls/99999/reminders").status_code == 404


def test_upcoming_reminders_list_for_a_call(app: Flask, manager_client: FlaskClient,
                                            reviewer_client: FlaskClient) -> None:
    call = make_call(opens_at=utcnow() - dt.timedelta(days=40), closes_at=utcnow() - dt.timedelta(days=5),
                     review_deadline=utcnow() + dt.timedelta(days=10))
    reviewer = make_reviewer()
    make_assignment(make_application(make_applicant(), call, state="submitted", company_name="Upcoming AS"),
                    reviewer, due_at=call.review_deadline)
    page = manager_client.get(f"/manage/calls/{call.id}/reminders").get_data(as_text=True)
    assert reviewer.name in page and "Upcoming AS" in page and "before-7d@" in page and "scheduled" in page
    assert reviewer_client.get(f"/manage/calls/{call.id}/reminders").status_code == 403


def test_admin_resends_a_failed_email(app: Flask, admin_client: FlaskClient, manager_client: FlaskClient) -> None:
    failed = OutboundEmail(to_address="bounce@example.org", subject="Reminder", body_text="b", kind="reminders",
                           status="failed", attempts=8, last_error="550 Mailbox unavailable")
    sent = OutboundEmail(to_address="ok@example.org", subject="Reminder", body_text="b", kind="reminders",
                         status="sent", attempts=1)
    db.session.add_all([failed, sent])
    db.session.commit()
    page = admin_client.get("/admin/outbox/failed")
    assert page.status_code == 200 and b"550 Mailbox unavailable" in page.data and b"ok@example.org" not in page.data
    token = csrf_token(admin_client, "/admin/outbox/failed")
    assert admin_client.post(f"/admin/outbox/{failed.id}/resend", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert (failed.status, failed.attempts) == ("pending", 0)
    assert admin_client.post(f"/admin/outbox/{sent.id}/resend", data={"csrf_token": token}).status_code == 409
    assert admin_client.post("/admin/outbox/99999/resend", data={"csrf_token": token}).status_code == 404
    assert manager_client.get("/admin/outbox/failed").status_code == 403
    assert manager_client.post(f"/admin/outbox/{failed.id}/resend").status_code in (400, 403)
    db.session.execute(select(OutboundEmail))  # the session is still usable


def test_logged_out_visitors_are_sent_to_log_in_from_the_private_pages(app: Flask, client: FlaskClient,
                                                                       make_user: Callable[..., User]) -> None:
    for path in ("/notifications/", "/admin/outbox/failed", "/manage/calls/1/reminders"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    user = make_user(Role.REVIEWER)
    assert log_in(client, user.email).status_code == 302


def test_the_settings_page_has_one_name_wherever_it_is_named(client: FlaskClient, reviewer_client: FlaskClient,
                                                              make_user: Callable[..., User]) -> None:
    page = reviewer_client.get("/notifications/").get_data(as_text=True)
    link = re.search(r'<a class="nav-link" href="/notifications/">([^<]+)</a>', page).group(1)
    heading = re.search(r"<h1[^>]*>([^<]+)</h1>", page).group(1)
    title = re.search(r"<title>([^<·]+)", page).group(1).strip()
    assert link == heading == title == "Email and calendar"
    done = client.post(unsubscribe_path(make_user(Role.APPLICANT))).get_data(as_text=True)
    assert "open Email and calendar" in done
