"""Two-factor sign-in for staff: the code step, enrolment with a locally drawn QR code,
recovery codes, no replay, throttling, turning it off, and an administrator's reset."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, RecoveryCode, User
from tests.conftest import (
    PASSWORD,
    TOTP_SECRET,
    csrf_token,
    enrol_second_factor,
    fresh_totp_code,
    log_in,
    log_out,
    pass_second_factor,
)
from tests.web.test_access import private_get_routes


def password_step(client: FlaskClient, email: str, next_url: str = "") -> Any:
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(client, "/login")})


def post_code(client: FlaskClient, code: str) -> Any:
    return client.post("/login/code", data={"code": code, "csrf_token": csrf_token(client, "/login/code")})


def current_code(user: User) -> str:
    db.session.refresh(user)
    return fresh_totp_code(user.totp_secret, user.totp_last_step)


def actions(user: User) -> list[str]:
    return list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_type == "user", AuditEvent.subject_id == user.id)
        .order_by(AuditEvent.id)))


def recovery_codes_from(page: str) -> list[str]:
    block = re.search(r'id="recovery-codes">(.*?)</ul>', page, re.S)
    assert block
    return re.findall(r"<li>([a-z0-9-]+)</li>", block.group(1))


@pytest.mark.parametrize("role", [Role.MANAGER, Role.ADMIN])
def test_every_private_page_waits_for_the_code(app: Flask, make_user: Callable[..., User], role: Role) -> None:
    user = make_user(role)
    client = app.test_client()
    assert password_step(client, user.email).headers["Location"] == "/login/code"
    for endpoint, url, _ in private_get_routes(app):
        response = client.get(url)
        if endpoint == "auth.second_factor":
            assert response.status_code == 200
        elif endpoint == "auth.two_factor_setup":
            assert response.headers["Location"] == "/account/two-factor", endpoint  # already enrolled
        else:
            assert response.status_code == 302, endpoint
            assert response.headers["Location"] == "/login/code", endpoint
    assert client.get("/").headers["Location"] == "/login/code"  # public pages too, until it passes


def test_staff_without_a_second_factor_is_sent_to_enrolment(app: Flask, make_user: Callable[..., User]) -> None:
    manager = make_user(Role.MANAGER, totp_secret=None)
    client = app.test_client()
    assert password_step(client, manager.email).headers["Location"] == "/account/two-factor/setup"
    assert client.get("/manage/").headers["Location"] == "/account/two-factor/setup"
    assert client.get("/login/code").headers["Location"] == "/account/two-factor/setup"


def test_code_step_passes_with_a_current_code_and_keeps_next(app: Flask, make_user: Callable[..., User]) -> None:
    admin = make_user(Role.ADMIN)
    client = app.test_client()
    password_step(client, admin.email, next_url="/admin/audit")
    page = client.get("/login/code").get_data(as_text=True)
    assert "Calls and slots" not in page  # no staff navigation while half signed in
    response = post_code(client, current_code(admin))
    assert response.headers["Location"] == "/admin/audit"
    assert client.get("/admin/audit").status_code == 200


def test_wrong_code_is_refused_and_the_session_stays_half_signed_in(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER)
    client = app.test_client()
    password_step(client, manager.email)
    for wrong in ("000000", "12345", "not a code", "1" * 40):
        response = post_code(client, wrong)
        assert response.status_code == 400, wrong
    assert "That code is not valid" in response.get_data(as_text=True)
    assert client.get("/manage/").headers["Location"] == "/login/code"


def test_a_used_code_cannot_be_used_again(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER)
    first, second = app.test_client(), app.test_client()
    password_step(first, manager.email)
    code = current_code(manager)
    assert post_code(first, code).status_code == 302
    password_step(second, manager.email)
    response = post_code(second, code)  # the same code, still inside its 30 seconds
    assert response.status_code == 400
    assert second.get("/manage/").headers["Location"] == "/login/code"
    db.session.refresh(manager)
    assert pyotp.TOTP(TOTP_SECRET).at(manager.totp_last_step * 30) == code  # the step it was used in


def test_code_attempts_are_throttled_per_account(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER)
    client = app.test_client()
    password_step(client, manager.email)
    for _ in range(app.config["TWO_FACTOR_FAILURES_PER_MINUTE"]):
        assert post_code(client, "000000").status_code == 400
    response = post_code(client, current_code(manager))  # even the right code waits now
    assert response.status_code == 429
    other_browser = app.test_client()  # a new sign-in does not reset the count
    password_step(other_browser, manager.email)
    assert post_code(other_browser, current_code(manager)).status_code == 429


def enrol(client: FlaskClient) -> list[str]:
    return recovery_codes_from(enrol_second_factor(client).get_data(as_text=True))


def test_enrolment_shows_a_local_qr_code_and_ten_recovery_codes(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER, totp_secret=None)
    client = app.test_client()
    password_step(client, manager.email)
    response = client.get("/account/two-factor/setup")
    page = response.get_data(as_text=True)
    assert re.search(r'<img src="data:image/svg\+xml[^"]+"', page)  # drawn here, no outside service
    assert "img-src 'self' data:" in response.headers["Content-Security-Policy"]
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page).group(1)
    assert client.get("/account/two-factor/setup").get_data(as_text=True).count(secret) >= 1  # stable on reload
    wrong = client.post("/account/two-factor/setup", data={
        "code": "000000", "csrf_token": csrf_token(client, "/account/two-factor/setup")})
    assert wrong.status_code == 400
    codes = enrol(client)
    assert len(codes) == 10 and len(set(codes)) == 10
    db.session.refresh(manager)
    assert manager.two_factor_enrolled and manager.totp_secret == secret
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.user_id == manager.id)).all()
    assert len(stored) == 10 and not set(codes) & set(stored)  # only hashes are kept
    assert client.get("/manage/").status_code == 200  # enrolling passed the second factor too
    assert "account.two_factor_enrolled" in actions(manager)


def test_recovery_code_works_once(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER, totp_secret=None)
    client = app.test_client()
    password_step(client, manager.email)
    codes = enrol(client)
    log_out(client)
    password_step(client, manager.email)
    response = post_code(client, codes[3].upper().replace("-", " "))  # typed loosely
    assert response.status_code == 302
    assert client.get("/manage/").status_code == 200
    assert "account.recovery_code_used" in actions(manager)
    log_out(client)
    password_step(client, manager.email)
    assert post_code(client, codes[3]).status_code == 400


def test_new_recovery_codes_need_a_code_and_cancel_the_old_ones(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER, totp_secret=None)
    client = app.test_client()
    password_step(client, manager.email)
    old = enrol(client)
    url = "/account/two-factor/recovery-codes"
    refused = client.post(url, data={"code": "000000", "csrf_token": csrf_token(client, "/account/two-factor")})
    assert refused.status_code == 400
    response = client.post(url, data={"code": current_code(manager),
                                      "csrf_token": csrf_token(client, "/account/two-factor")})
    new = recovery_codes_from(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    log_out(client)
    password_step(client, manager.email)
    assert post_code(client, old[0]).status_code == 400
    assert post_code(client, new[0]).status_code == 302


def test_applicant_may_turn_two_factor_on_and_off_with_a_current_code(app: Flask, applicant_client: FlaskClient) -> None:
    user = applicant_client.user
    codes = enrol(applicant_client)
    assert len(codes) == 10
    log_out(applicant_client)
    assert password_step(applicant_client, user.email).headers["Location"] == "/login/code"  # now asked
    assert pass_second_factor(applicant_client, user.email).status_code == 302
    token = csrf_token(applicant_client, "/account/two-factor")
    refused = applicant_client.post("/account/two-factor/disable", data={"code": "000000", "csrf_token": token})
    assert refused.status_code == 400
    db.session.refresh(user)
    assert user.two_factor_enrolled
    response = applicant_client.post("/account/two-factor/disable", data={"code": current_code(user), "csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(user)
    assert not user.two_factor_enrolled and user.totp_secret is None
    assert db.session.scalar(select(RecoveryCode).where(RecoveryCode.user_id == user.id)) is None
    assert "account.two_factor_disabled" in actions(user)
    log_out(applicant_client)
    assert password_step(applicant_client, user.email).headers["Location"] == "/dashboard"


def test_required_role_cannot_turn_two_factor_off(app: Flask, manager_client: FlaskClient) -> None:
    manager = manager_client.user
    token = csrf_token(manager_client, "/account/two-factor")
    response = manager_client.post("/account/two-factor/disable", data={"code": current_code(manager), "csrf_token": token})
    assert response.status_code == 400
    assert "cannot be turned off" in response.get_data(as_text=True)
    db.session.refresh(manager)
    assert manager.two_factor_enrolled


def test_reviewers_are_not_asked_by_default(app: Flask, make_user) -> None:
    reviewer = make_user(Role.REVIEWER)
    assert password_step(app.test_client(), reviewer.email).headers["Location"] == "/dashboard"


class TestReviewersRequiredBySetting:
    @pytest.fixture
    def app_config(self) -> dict[str, Any]:
        return {"TWO_FACTOR_REQUIRED_ROLES": "admin, manager, reviewer"}

    def test_reviewer_is_sent_to_enrolment(self, app: Flask, make_user) -> None:
        reviewer = make_user(Role.REVIEWER, totp_secret=None)
        client = app.test_client()
        assert password_step(client, reviewer.email).headers["Location"] == "/account/two-factor/setup"
        assert client.get("/review/").headers["Location"] == "/account/two-factor/setup"
        enrol(client)
        assert client.get("/review/").status_code == 200


def test_admin_resets_a_users_second_factor(app: Flask, admin_client: FlaskClient, make_user) -> None:
    manager = make_user(Role.MANAGER)
    manager_browser = app.test_client()
    log_in(manager_browser, manager.email)
    url = f"/admin/users/{manager.id}/two-factor/reset"
    page = admin_client.get(f"/admin/users/{manager.id}").get_data(as_text=True)
    assert f'action="{url}"' in page
    assert admin_client.post(url).status_code == 400  # no CSRF token
    response = admin_client.post(url, data={"csrf_token": csrf_token(admin_client, f"/admin/users/{manager.id}")})
    assert response.status_code == 302
    db.session.refresh(manager)
    assert not manager.two_factor_enrolled and manager.totp_secret is None
    assert manager_browser.get("/manage/").headers["Location"].startswith("/login")  # sessions ended
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.two_factor_reset"))
    assert event.actor_id == admin_client.user.id and event.subject_id == manager.id
    again = admin_client.post(url, data={"csrf_token": csrf_token(admin_client, f"/admin/users/{manager.id}")})
    assert again.status_code == 409
    assert password_step(manager_browser, manager.email).headers["Location"] == "/account/two-factor/setup"


def test_manager_cannot_reset_anyones_second_factor(app: Flask, manager_client: FlaskClient, make_user) -> None:
    admin = make_user(Role.ADMIN)
    response = manager_client.post(f"/admin/users/{admin.id}/two-factor/reset",
                                   data={"csrf_token": csrf_token(manager_client, "/account/two-factor")})
    assert response.status_code == 403
    db.session.refresh(admin)
    assert admin.two_factor_enrolled
