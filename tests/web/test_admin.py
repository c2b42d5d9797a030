"""Administrators invite reviewers and managers and change roles."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, OutboundEmail, User
from tests.conftest import csrf_token, log_in, log_out


def invite(client: FlaskClient, **data: str):
    form = {"name": "Rita Reviewer", "email": "rita@ous.no", "role": "reviewer"}
    form.update(data)
    form["csrf_token"] = csrf_token(client, "/admin/users/invite")
    return client.post("/admin/users/invite", data=form)


def _accept_invitation(app: Flask, email: str, password: str) -> tuple[FlaskClient, str, object]:
    message = db.session.scalar(select(OutboundEmail).where(OutboundEmail.to_address == email))
    link = re.search(r"http://localhost(/invitation/\S+)", message.body_text).group(1)
    visitor = app.test_client()
    response = visitor.post(link, data={"password": password, "confirm": password, "csrf_token": csrf_token(visitor, link)})
    return visitor, link, response


def test_invited_reviewer_sets_password_by_emailed_link_and_is_signed_in(app: Flask, admin_client: FlaskClient) -> None:
    assert invite(admin_client).status_code == 302
    user = db.session.scalar(select(User).where(User.email == "rita@ous.no"))
    assert user.role == "reviewer" and user.password_hash is None
    password = "reviewing is my passion"
    visitor, link, response = _accept_invitation(app, "rita@ous.no", password)
    assert response.status_code == 302, response.get_data(as_text=True)
    # Straight in: choosing the password proved who they are, no second login.
    assert response.headers["Location"] == "/dashboard"
    assert visitor.get("/review/").status_code == 200
    assert visitor.get(link).status_code == 400  # the invitation was used
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.logged_in",
                                                      AuditEvent.subject_id == user.id)) is not None
    log_out(visitor)
    assert log_in(visitor, "rita@ous.no", password).headers["Location"] == "/dashboard"


def test_invited_manager_is_signed_in_only_as_far_as_setting_up_the_second_factor(app: Flask,
                                                                                  admin_client: FlaskClient) -> None:
    assert invite(admin_client, email="mona@occ.no", role="manager").status_code == 302
    visitor, _link, response = _accept_invitation(app, "mona@occ.no", "managing is my passion")
    assert response.status_code == 302 and response.headers["Location"] == "/account/two-factor/setup"
    assert visitor.get("/manage/").status_code == 302  # half signed in until the second factor is set up


def test_invite_refuses_an_email_already_registered(admin_client: FlaskClient, make_user) -> None:
    make_user(email="rita@ous.no")
    response = invite(admin_client)
    assert response.status_code == 400
    assert "An account with this email already exists" in response.get_data(as_text=True)


def test_invite_refuses_an_unknown_role(admin_client: FlaskClient) -> None:
    response = invite(admin_client, role="superuser")
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert db.session.scalar(select(User).where(User.email == "rita@ous.no")) is None


def test_admin_changes_role_and_it_is_audited(admin_client: FlaskClient, make_user) -> None:
    target = make_user(Role.REVIEWER)
    url = f"/admin/users/{target.id}"
    response = admin_client.post(url, data={"role": "manager", "active": "y", "csrf_token": csrf_token(admin_client, url)})
    assert response.status_code == 302
    db.session.refresh(target)
    assert target.role == "manager"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.role_changed"))
    assert event.details == {"old": "reviewer", "new": "manager"} and event.subject_id == target.id


def test_last_administrator_cannot_be_demoted(admin_client: FlaskClient) -> None:
    me = admin_client.user
    url = f"/admin/users/{me.id}"
    response = admin_client.post(url, data={"role": "applicant", "active": "y", "csrf_token": csrf_token(admin_client, url)})
    assert response.status_code == 400
    assert "This is the last administrator" in response.get_data(as_text=True)
    db.session.refresh(me)
    assert me.role == "admin"


def test_deactivated_user_is_logged_out_and_cannot_log_in(app: Flask, admin_client: FlaskClient, make_user) -> None:
    target = make_user(Role.MANAGER)
    their_client = app.test_client()
    log_in(their_client, target.email)
    url = f"/admin/users/{target.id}"
    admin_client.post(url, data={"role": "manager", "csrf_token": csrf_token(admin_client, url)})  # box unticked
    assert their_client.get("/manage/").status_code == 302
    assert log_in(app.test_client(), target.email).status_code == 400


def test_user_list_search_treats_wildcards_literally(admin_client: FlaskClient, make_user) -> None:
    make_user(email="percent@example.org", name="Per Cent")
    page = admin_client.get("/admin/users?q=%25").get_data(as_text=True)
    assert "No users match." in page


def test_unknown_user_is_404(admin_client: FlaskClient) -> None:
    assert admin_client.get("/admin/users/9999").status_code == 404
