"""Registration, login, logout, password reset and change, through the real forms."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, OutboundEmail, User
from tests.conftest import PASSWORD, csrf_token, log_in, log_out, pass_second_factor


def register(client: FlaskClient, **overrides: str):
    data = {"name": "Astrid Founder", "email": "astrid@tumourtech.no", "password": PASSWORD,
            "confirm": PASSWORD, "csrf_token": csrf_token(client, "/register")}
    data.update(overrides)
    if "confirm" not in overrides:
        data["confirm"] = data["password"]
    return client.post("/register", data=data)


def field_error(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error"[^>]*>(.*?)</div>', page, re.S)
    return match.group(1).strip() if match else ""


def test_register_creates_applicant_emails_a_welcome_and_asks_to_log_in(client: FlaskClient) -> None:
    response = register(client)
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    user = db.session.scalar(select(User).where(User.email == "astrid@tumourtech.no"))
    assert user is not None and user.role == "applicant" and user.password_hash.startswith("$argon2id$")
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == user.email))
    assert email.kind == "welcome" and "http://localhost/login" in email.body_text
    assert client.get("/dashboard").status_code == 302  # not logged in by registering
    assert log_in(client, user.email).status_code == 302
    assert "Welcome, Astrid Founder" in client.get("/dashboard").get_data(as_text=True)


def test_register_email_is_stored_lowercase_and_trimmed(client: FlaskClient) -> None:
    register(client, email="  Astrid@TumourTech.NO ")
    assert db.session.scalar(select(User.email)) == "astrid@tumourtech.no"


def test_register_with_a_taken_email_answers_as_for_a_new_one_and_tells_the_owner(app: Flask) -> None:
    first, second = app.test_client(), app.test_client()
    fresh = register(first)
    taken = register(second, email="ASTRID@tumourtech.no", password="another long passphrase 7")
    assert (taken.status_code, taken.headers["Location"]) == (fresh.status_code, fresh.headers["Location"])
    said = "Thank you. We sent an email to astrid@tumourtech.no; log in with your password to continue."
    assert said in first.get("/login").get_data(as_text=True) and said in second.get("/login").get_data(as_text=True)
    assert db.session.scalar(select(db.func.count()).select_from(User)) == 1
    assert log_in(second, "astrid@tumourtech.no", "another long passphrase 7").status_code == 400

    warning = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "registration_attempt"))
    assert warning.to_address == "astrid@tumourtech.no"
    assert "Someone just tried to create an account" in warning.body_text
    link = re.search(r"http://localhost(/password/reset/\S+)", warning.body_text).group(1)
    assert "Choose a new password" in second.get(link).get_data(as_text=True)


@pytest.mark.parametrize(
    ("password", "message"),
    [("short1", "Use at least 10 characters."), ("1234567890", "This password is too common."),
     ("aaaaaaaaaaaa", "Use more different characters."),
     ("astrid-rocks-2026", "Do not include your email address.")],
)
def test_register_refuses_weak_password(client: FlaskClient, password: str, message: str) -> None:
    response = register(client, password=password)
    assert response.status_code == 400
    assert message in field_error(response.get_data(as_text=True), "password")
    assert db.session.scalar(select(User)) is None


@pytest.mark.parametrize("email", ["not-an-email", "astrid@", "@tumourtech.no", "a b@c.no"])
def test_register_refuses_malformed_email(client: FlaskClient, email: str) -> None:
    response = register(client, email=email)
    assert response.status_code == 400
    assert "Enter a valid email address" in field_error(response.get_data(as_text=True), "email")


def test_register_refuses_mismatched_confirmation(client: FlaskClient) -> None:
    response = register(client, confirm="something else entirely")
    assert "The two passwords differ." in field_error(response.get_data(as_text=True), "confirm")


def test_register_shows_script_in_name_escaped(client: FlaskClient) -> None:
    register(client, name="<script>alert(1)</script>")
    log_in(client, "astrid@tumourtech.no")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_form_without_valid_csrf_token_is_refused(client: FlaskClient, token: str | None) -> None:
    data = {"name": "A", "email": "a@b.no", "password": PASSWORD, "confirm": PASSWORD}
    if token:
        data["csrf_token"] = token
    response = client.post("/register", data=data)
    assert response.status_code == 400
    assert "Your form expired or did not come from this site" in response.get_data(as_text=True)
    assert db.session.scalar(select(User)) is None


def test_login_with_wrong_password_says_so_and_records_nothing(client: FlaskClient, make_user) -> None:
    user = make_user()
    response = log_in(client, user.email, "wrong password here")
    assert response.status_code == 400
    assert "That email and password do not match an account." in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_login_of_unknown_email_gives_the_same_message(client: FlaskClient) -> None:
    response = log_in(client, "nobody@example.org", "whatever-password")
    assert "That email and password do not match an account." in response.get_data(as_text=True)


def test_login_records_time_and_audit_event(client: FlaskClient, make_user) -> None:
    user = make_user()
    assert log_in(client, user.email).status_code == 302
    db.session.refresh(user)
    assert user.last_login_at is not None
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.actor_id == user.id)) == "account.logged_in"


def test_login_of_deactivated_account_is_refused(client: FlaskClient, make_user) -> None:
    user = make_user(active=False)
    response = log_in(client, user.email)
    assert response.status_code == 400
    assert "That email and password do not match an account." in response.get_data(as_text=True)


def test_login_follows_next_only_within_the_site(client: FlaskClient, make_user) -> None:
    user = make_user(Role.ADMIN)
    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/x", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/login/code"  # an administrator passes the code step first
    assert pass_second_factor(client, user.email).headers["Location"] == "/dashboard"
    log_out(client)
    token = csrf_token(client, "/login")
    client.post("/login?next=/admin/audit", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert pass_second_factor(client, user.email).headers["Location"] == "/admin/audit"


def test_failed_logins_from_one_address_slow_further_attempts_there(client: FlaskClient, make_user) -> None:
    user = make_user()
    for _ in range(6):  # five free failures, then the sixth blocks this address for this email
        assert log_in(client, user.email, "wrong password again").status_code == 400
    response = log_in(client, user.email)  # even the right password waits now
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert "Retry-After" in response.headers


def test_successful_logins_do_not_count_towards_the_limit(client: FlaskClient, make_user) -> None:
    user = make_user()
    for _ in range(12):
        assert log_in(client, user.email).status_code == 302
        log_out(client)


def test_logout_needs_post_with_csrf(client: FlaskClient, make_user) -> None:
    user = make_user()
    log_in(client, user.email)
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={})
    assert client.get("/dashboard").status_code == 200  # no token: still logged in
    log_out(client)
    assert client.get("/dashboard").status_code == 302


def reset_link_from_outbox(to_address: str) -> str:
    email = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.to_address == to_address).order_by(OutboundEmail.id.desc())
    ).first()
    assert email is not None, "no email in the outbox"
    match = re.search(r"http://localhost(/\S+)", email.body_text)
    assert match
    return match.group(1)


def request_reset(client: FlaskClient, email: str):
    return client.post("/password/forgot", data={"email": email, "csrf_token": csrf_token(client, "/password/forgot")})


def test_password_reset_by_emailed_link_works_once(client: FlaskClient, make_user) -> None:
    user = make_user()
    assert request_reset(client, user.email).status_code == 302
    link = reset_link_from_outbox(user.email)
    assert link.startswith("/password/reset/")
    new_password = "a new and long passphrase"
    response = client.post(link, data={"password": new_password, "confirm": new_password,
                                       "csrf_token": csrf_token(client, link)})
    assert response.status_code == 302
    assert log_in(client, user.email, new_password).status_code == 302
    log_out(client)
    reused = client.get(link)
    assert reused.status_code == 400
    assert "This link has already been used" in reused.get_data(as_text=True)


def test_password_reset_link_with_broken_signature_is_refused(client: FlaskClient, make_user) -> None:
    user = make_user()
    request_reset(client, user.email)
    link = reset_link_from_outbox(user.email)
    response = client.get(link[:-3] + "abc")
    assert response.status_code == 400
    assert "This link is not valid" in response.get_data(as_text=True)


def test_password_reset_refuses_weak_new_password_and_keeps_link_usable(client: FlaskClient, make_user) -> None:
    user = make_user()
    request_reset(client, user.email)
    link = reset_link_from_outbox(user.email)
    response = client.post(link, data={"password": "short", "confirm": "short", "csrf_token": csrf_token(client, link)})
    assert response.status_code == 400
    assert "Use at least 10 characters." in response.get_data(as_text=True)
    assert client.get(link).status_code == 200


def test_password_reset_for_unknown_email_sends_nothing(client: FlaskClient) -> None:
    response = request_reset(client, "nobody@example.org")
    assert response.status_code == 302
    assert db.session.scalar(select(OutboundEmail)) is None


def test_change_password_needs_current_one_and_ends_other_sessions(app: Flask, make_user) -> None:
    user = make_user()
    first, second = app.test_client(), app.test_client()
    log_in(first, user.email)
    log_in(second, user.email)
    token = csrf_token(first, "/password/change")
    wrong = first.post("/password/change", data={"current_password": "not it at all", "password": "another long passphrase",
                                                 "confirm": "another long passphrase", "csrf_token": token})
    assert "Your current password is not correct." in wrong.get_data(as_text=True)
    response = first.post("/password/change", data={"current_password": PASSWORD, "password": "another long passphrase",
                                                    "confirm": "another long passphrase", "csrf_token": token})
    assert response.status_code == 302
    assert second.get("/dashboard").status_code == 302  # the other session is over


def test_expired_reset_link_is_refused(app: Flask, make_user) -> None:
    from incubator.services.passwords import RESET_PURPOSE, make_password_link_token

    user = make_user()
    token = make_password_link_token(user, RESET_PURPOSE)
    app.config["PASSWORD_RESET_MAX_AGE"] = -1  # any age is past it
    response = app.test_client().get(f"/password/reset/{token}")
    assert response.status_code == 400
    assert "This link has expired" in response.get_data(as_text=True)


def test_required_fields_are_marked_for_eyes_and_for_assistive_technology(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "Fields marked * are required." in page
    for field in ("email", "password"):
        label = page[page.index(f'<label class="form-label" for="{field}">'):]
        assert label.split("</label>", 1)[1].lstrip().startswith('<span class="required-marker" aria-hidden="true">*</span>')
        tag = re.search(f'<input [^>]*id="{field}"[^>]*>', page).group(0)
        assert ' required ' in tag and 'aria-required="true"' in tag


def test_a_failed_login_form_starts_with_a_focusable_error_summary(client: FlaskClient) -> None:
    page = client.post("/login", data={"csrf_token": csrf_token(client, "/login"), "email": "", "password": ""})
    html = page.get_data(as_text=True)
    summary = html[html.index("data-error-summary") - 80:]
    summary = summary[:summary.index("</div>")]
    assert page.status_code == 400 and 'tabindex="-1"' in summary and "There is a problem" in summary
    assert '<a href="#email">' in summary and '<a href="#password">Password: Enter your password.</a>' in summary
