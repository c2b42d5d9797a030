"""The layout's main navigation is rendered once per role, language and application root
(``incubator/web/navigation.py``) and kept: these check that a kept fragment never shows a
visitor another role's links or another language, and that it follows a role change at once."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import User
from tests.conftest import PASSWORD, csrf_token

MANAGER_LINK, REVIEWER_LINK, APPLICANT_LINK = 'href="/manage/"', 'href="/review/"', 'href="/dashboard"'


def navigation(page: str) -> str:
    match = re.search(r'<ul class="navbar-nav me-auto">(.*?)</ul>', page, re.S)
    assert match, "no main navigation on the page"
    return match.group(1)


def nav_of(client: FlaskClient, path: str = "/password/change") -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return navigation(response.get_data(as_text=True))


def test_each_role_gets_its_own_links_whoever_came_first(
        app: Flask, reviewer_client: FlaskClient, manager_client: FlaskClient, admin_client: FlaskClient,
        applicant_client: FlaskClient, client: FlaskClient) -> None:
    for _ in range(2):  # the second round is served from the kept fragments
        reviewer, manager, admin = nav_of(reviewer_client), nav_of(manager_client), nav_of(admin_client)
        applicant, anonymous = nav_of(applicant_client), nav_of(client, "/")
        assert REVIEWER_LINK in reviewer and MANAGER_LINK not in reviewer and "/admin/" not in reviewer
        assert MANAGER_LINK in manager and REVIEWER_LINK not in manager and "/admin/" not in manager
        assert MANAGER_LINK in admin and 'href="/admin/users"' in admin and REVIEWER_LINK not in admin
        assert APPLICANT_LINK in applicant and REVIEWER_LINK not in applicant and MANAGER_LINK not in applicant
        assert "Open calls" in anonymous and REVIEWER_LINK not in anonymous and MANAGER_LINK not in anonymous


def test_a_language_switch_changes_the_links_language(reviewer_client: FlaskClient) -> None:
    assert "My reviews" in nav_of(reviewer_client)  # kept in English first
    response = reviewer_client.post("/language", data={"locale": "nb", "next": "/password/change",
                                                       "csrf_token": csrf_token(reviewer_client, "/password/change")})
    assert response.status_code == 302
    norwegian = nav_of(reviewer_client)
    assert "Mine vurderinger" in norwegian and "My reviews" not in norwegian
    assert "Granskningar" not in norwegian and "Mina granskningar" not in norwegian
    response = reviewer_client.post("/language", data={"locale": "en", "next": "/password/change",
                                                       "csrf_token": csrf_token(reviewer_client, "/password/change")})
    assert "My reviews" in nav_of(reviewer_client)


def test_a_role_change_shows_at_once(app: Flask, reviewer_client: FlaskClient) -> None:
    assert REVIEWER_LINK in nav_of(reviewer_client)
    user = db.session.get(User, reviewer_client.user.id)  # type: ignore[attr-defined]
    user.role = Role.APPLICANT.value
    db.session.commit()
    applicant = nav_of(reviewer_client)
    assert APPLICANT_LINK in applicant and REVIEWER_LINK not in applicant


def test_a_manager_with_the_code_still_due_sees_no_staff_links(
        app: Flask, make_user: Callable[..., User], manager_client: FlaskClient) -> None:
    assert MANAGER_LINK in nav_of(manager_client)  # a manager's links are kept
    manager = make_user(Role.MANAGER)
    half_signed_in = app.test_client()
    response = half_signed_in.post("/login", data={"email": manager.email, "password": PASSWORD,
                                                   "csrf_token": csrf_token(half_signed_in, "/login")})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/code")
    links = navigation(half_signed_in.get("/login/code").get_data(as_text=True))
    assert MANAGER_LINK not in links and "Open calls" in links
