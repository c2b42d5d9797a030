"""Every page checks who may see it: a table of routes × visitors, built from the URL map so
that a new page without a check fails here."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incubator.domain.roles import Role, role_allows
from incubator.models import User
from tests.conftest import log_in

PUBLIC_ENDPOINTS = {
    "static", "bootstrap.static", "main.index", "auth.login", "auth.register", "auth.logout",
    "auth.forgot_password", "auth.reset_password", "auth.accept_invitation",
    "apply.calls", "apply.call_detail",
    # Reached from a link in an email, without logging in; the secret token is the check.
    "notifications.unsubscribe", "notifications.calendar_feed",
    # For load balancers and Prometheus: states and counts only; /metrics wants its bearer token
    # (tests/web/test_health_and_metrics.py).
    "ops.healthz", "ops.readyz", "ops.metrics",
}
SAMPLE_ARGUMENTS = {"user_id": 1, "token": "x", "application_id": 1, "attachment_id": 1, "step": "company",
                    "slug": "no-such-call", "call_id": 1, "offer_id": 1, "slot_id": 1, "assignment_id": 1,
                    "residency_id": 1, "email_id": 1, "programme_id": 1, "site_id": 1,
                    "question_id": 1}


def private_get_routes(app: Flask) -> list[tuple[str, str, tuple[Role, ...]]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS or "GET" not in (rule.methods or set()):
            continue
        view = app.view_functions[rule.endpoint]
        roles = getattr(view, "required_roles", None)
        assert roles is not None, f"{rule.endpoint} has no access check (wrap it in role_required)"
        url = rule.build({name: SAMPLE_ARGUMENTS[name] for name in rule.arguments})[1]
        routes.append((rule.endpoint, url, roles))
    return routes


def test_every_private_route_is_found(app: Flask) -> None:
    endpoints = {endpoint for endpoint, _, _ in private_get_routes(app)}
    assert {"main.dashboard", "admin.users", "admin.invite", "admin.user_detail", "admin.outbox",
            "admin.audit", "manage.overview", "review.assignments", "auth.change_password",
            "manage.call_hub", "manage.rubric", "manage.assignments", "manage.ranking", "manage.decisions_page",
            "manage.slots", "manage.occupancy", "review.profile"} <= endpoints


def test_logged_out_visitor_is_sent_to_log_in_from_every_private_page(app: Flask, client: FlaskClient) -> None:
    for endpoint, url, _ in private_get_routes(app):
        response = client.get(url)
        assert response.status_code == 302, endpoint
        assert response.headers["Location"].startswith("/login?next="), endpoint


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_403_on_pages_of_other_roles(app: Flask, make_user: Callable[..., User], role: Role) -> None:
    admin_target = make_user(Role.ADMIN)  # gives /admin/users/1 something to show
    assert admin_target.id == 1
    user = make_user(role)
    client = app.test_client()
    assert log_in(client, user.email).status_code == 302
    for endpoint, url, roles in private_get_routes(app):
        allowed = not roles or any(role_allows(role, needed) for needed in roles)
        response = client.get(url)
        if allowed:
            # 404: the sample ids name nothing of this user's, which is also an allowed answer.
            assert response.status_code in (200, 302, 404), (endpoint, response.status_code)
        else:
            assert response.status_code == 403, (role, endpoint, response.status_code)
            assert "You do not have access to this page" in response.get_data(as_text=True)


def test_applicant_gets_403_on_reviewer_manager_and_admin_pages(applicant_client: FlaskClient) -> None:
    for url in ["/review/", "/manage/", "/admin/users", "/admin/users/invite", "/admin/outbox", "/admin/audit"]:
        assert applicant_client.get(url).status_code == 403, url


def test_posting_to_admin_pages_as_manager_is_refused(manager_client: FlaskClient, make_user) -> None:
    target = make_user()
    response = manager_client.post(f"/admin/users/{target.id}", data={"role": "admin", "active": "y"})
    assert response.status_code in (400, 403)
