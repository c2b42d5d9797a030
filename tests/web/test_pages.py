"""The look and the safety of every response: error pages, headers, cookies, dashboards."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from incubator.database import utcnow
from incubator.extensions import db
from incubator.services.demo import seed_demo_data
from tests.conftest import log_in


def test_front_page_lists_the_open_call_with_deadline_in_oslo_time(client: FlaskClient) -> None:
    seed_demo_data(utcnow())
    db.session.commit()
    page = client.get("/").get_data(as_text=True)
    assert "Residency intake" in page
    assert "BioVentureHub exchange" in page and "For companies registered in Norway" in page
    assert ("CET" in page or "CEST" in page) and "days left" in page


def test_unknown_page_is_404_in_the_site_layout(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page not found" in page and "OCC Incubator residency" in page


def test_security_headers_forbid_inline_script_and_framing(client: FlaskClient) -> None:
    response = client.get("/login")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script at all


def test_session_cookie_is_httponly_and_samesite_lax(client: FlaskClient, make_user) -> None:
    user = make_user()
    response = log_in(client, user.email)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_over_https(app: Flask, make_user) -> None:
    user = make_user()
    client = app.test_client()
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/login", base_url="https://localhost",
                           data={"email": user.email, "password": "correct horse battery staple", "csrf_token": token},
                           headers={"Referer": "https://localhost/login"})
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_bootstrap_is_served_locally(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "/bootstrap/static/css/bootstrap.min.css" in page
    assert "cdn." not in page
    assert client.get("/bootstrap/static/css/bootstrap.min.css").status_code == 200


def test_every_form_field_has_a_label(client: FlaskClient) -> None:
    import re

    for url in ["/login", "/register", "/password/forgot"]:
        page = client.get(url).get_data(as_text=True)
        for field_id in re.findall(r'<input[^>]+id="([^"]+)"[^>]*>', page):
            if field_id in ("csrf_token", "submit"):
                continue
            assert f'for="{field_id}"' in page, (url, field_id)


def test_role_dashboards(app: Flask, applicant_client, reviewer_client, manager_client, admin_client) -> None:
    assert "My applications" in applicant_client.get("/dashboard").get_data(as_text=True)
    assert reviewer_client.get("/dashboard").headers["Location"] == "/review/"
    assert manager_client.get("/dashboard").headers["Location"] == "/manage/"
    assert admin_client.get("/dashboard").headers["Location"] == "/manage/"
    assert "Audit log" in admin_client.get("/manage/").get_data(as_text=True)
    assert "Audit log" not in manager_client.get("/manage/").get_data(as_text=True)
