"""Sessions end for real: a server-side record per login, checked on every request, revoked by
logout, password change and reset, deactivation and erasure; users end their other sessions."""

from __future__ import annotations

import datetime as dt
import hashlib

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, User, UserSession
from incubator.services.passwords import RESET_PURPOSE, make_password_link_token
from tests.conftest import PASSWORD, csrf_token, log_in, log_out


def copy_of_cookie(app: Flask, client: FlaskClient) -> FlaskClient:
    """A second browser holding a copy of the first one's session cookie."""
    cookie = client.get_cookie("session", domain="localhost")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value, domain="localhost")
    return thief


def session_records(user: User) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(UserSession.user_id == user.id)
                                   .order_by(UserSession.id)))


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/account/sessions")  # a page every role may see
    return response.status_code == 200


def test_copied_cookie_stops_working_after_logout(app: Flask, applicant_client: FlaskClient) -> None:
    thief = copy_of_cookie(app, applicant_client)
    assert signed_in(thief)  # the copy works while the session lives
    assert log_out(applicant_client).status_code == 302
    assert not signed_in(thief)
    assert thief.get("/account/sessions").headers["Location"].startswith("/login")
    [record] = session_records(applicant_client.user)
    assert record.revoked_at is not None


def test_cookie_stores_a_token_whose_hash_names_the_record(app: Flask, applicant_client: FlaskClient) -> None:
    cookie = applicant_client.get_cookie("session", domain="localhost")
    data = app.session_interface.get_signing_serializer(app).loads(cookie.value)
    token = data["_session_token"]
    [record] = session_records(applicant_client.user)
    assert record.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in record.token_hash


def test_login_records_user_agent_and_address(app: Flask, make_user) -> None:
    user = make_user()
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT="Firefox on a lab laptop", REMOTE_ADDR="192.0.2.7")
    log_in(client, user.email)
    [record] = session_records(user)
    assert (record.user_agent, record.ip_address, record.revoked_at) == ("Firefox on a lab laptop", "192.0.2.7", None)


def test_hostile_user_agent_and_page_number_are_harmless(app: Flask, make_user) -> None:
    user = make_user()
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT="evil\x00agent\r\n" + "x" * 1000)
    assert log_in(client, user.email).status_code == 302  # PostgreSQL would refuse a NUL byte
    [record] = session_records(user)
    assert record.user_agent.startswith("evilagent") and len(record.user_agent) == 300
    assert client.get("/account/sessions?page=" + "9" * 30).status_code == 200


def test_last_seen_is_written_at_most_once_a_minute(applicant_client: FlaskClient) -> None:
    [record] = session_records(applicant_client.user)
    first_seen = record.last_seen_at
    assert signed_in(applicant_client)
    [record] = session_records(applicant_client.user)
    assert record.last_seen_at == first_seen  # no write for a page view within the minute
    earlier = utcnow() - dt.timedelta(minutes=2)
    db.session.execute(update(UserSession).where(UserSession.id == record.id).values(last_seen_at=earlier))
    db.session.commit()
    assert signed_in(applicant_client)
    [record] = session_records(applicant_client.user)
    assert record.last_seen_at > earlier + dt.timedelta(minutes=1)


def test_a_session_idle_longer_than_the_limit_ends_and_stays_ended(app: Flask, applicant_client: FlaskClient) -> None:
    [record] = session_records(applicant_client.user)
    limit = app.config["SESSION_IDLE_TIMEOUT"]
    assert limit == dt.timedelta(hours=12)
    almost = utcnow() - limit + dt.timedelta(minutes=5)
    db.session.execute(update(UserSession).where(UserSession.id == record.id).values(last_seen_at=almost))
    db.session.commit()
    assert signed_in(applicant_client)  # within the limit: still signed in, and seen again now
    idle = utcnow() - limit - dt.timedelta(minutes=1)
    db.session.execute(update(UserSession).where(UserSession.id == record.id).values(last_seen_at=idle))
    db.session.commit()
    response = applicant_client.get("/account/sessions", follow_redirects=True)
    assert "/login" in response.request.path
    assert "signed out after a long time without activity" in response.get_data(as_text=True)
    [record] = session_records(applicant_client.user)
    assert record.revoked_at is not None
    db.session.execute(update(UserSession).where(UserSession.id == record.id).values(last_seen_at=utcnow()))
    db.session.commit()
    assert not signed_in(applicant_client)  # revoked: fresh activity cannot bring the cookie back
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "account.session_idle_ended"))


def change_password(client: FlaskClient, new: str = "another long passphrase"):
    return client.post("/password/change", data={"current_password": PASSWORD, "password": new, "confirm": new,
                                                 "csrf_token": csrf_token(client, "/password/change")})


def test_password_change_ends_other_sessions_but_keeps_this_one(app: Flask, make_user) -> None:
    user = make_user()
    here, elsewhere = app.test_client(), app.test_client()
    log_in(here, user.email)
    log_in(elsewhere, user.email)
    assert change_password(here).status_code == 302
    assert signed_in(here)
    assert not signed_in(elsewhere)


def test_password_reset_by_link_ends_every_session(app: Flask, make_user) -> None:
    user = make_user()
    browser = app.test_client()
    log_in(browser, user.email)
    link = f"/password/reset/{make_password_link_token(user, RESET_PURPOSE)}"
    visitor = app.test_client()
    new = "a brand new passphrase"
    response = visitor.post(link, data={"password": new, "confirm": new, "csrf_token": csrf_token(visitor, link)})
    assert response.status_code == 302
    assert all(record.revoked_at is not None for record in session_records(user))
    assert not signed_in(browser)


def set_active(admin_client: FlaskClient, user: User, active: bool):
    url = f"/admin/users/{user.id}"
    data = {"role": user.role, "csrf_token": csrf_token(admin_client, url)}
    if active:
        data["active"] = "y"
    return admin_client.post(url, data=data)


def test_deactivation_ends_sessions_and_reactivation_does_not_revive_them(
        app: Flask, admin_client: FlaskClient, applicant_client: FlaskClient) -> None:
    user = applicant_client.user
    assert set_active(admin_client, user, False).status_code == 302
    assert all(record.revoked_at is not None for record in session_records(user))
    assert set_active(admin_client, user, True).status_code == 302
    assert not signed_in(applicant_client)  # the old cookie stays dead; logging in again works
    assert log_in(applicant_client, user.email).status_code == 302
    assert signed_in(applicant_client)


def test_erasure_ends_every_session(app: Flask, make_user) -> None:
    user = make_user()
    here, elsewhere = app.test_client(), app.test_client()
    log_in(here, user.email)
    log_in(elsewhere, user.email)
    response = here.post("/account/erase", data={"password": PASSWORD, "confirm": "y",
                                                 "csrf_token": csrf_token(here, "/account/erase")})
    assert response.status_code == 302
    records = session_records(user)
    assert len(records) == 2 and all(record.revoked_at is not None for record in records)
    assert not signed_in(elsewhere)


def test_sessions_page_lists_active_sessions_and_marks_this_one(app: Flask, make_user) -> None:
    user = make_user()
    here, phone = app.test_client(), app.test_client()
    phone.environ_base.update(HTTP_USER_AGENT="Safari on iPhone", REMOTE_ADDR="198.51.100.4")
    log_in(here, user.email)
    log_in(phone, user.email)
    log_out(phone)
    log_in(phone, user.email)
    page = here.get("/account/sessions").get_data(as_text=True)
    assert page.count("Safari on iPhone") == 1  # the ended one is not listed
    assert "198.51.100.4" in page
    assert page.count("This session") == 1
    assert page.count("End this session") == 1


def test_user_ends_another_session_with_a_post(app: Flask, make_user) -> None:
    user = make_user()
    here, other = app.test_client(), app.test_client()
    log_in(here, user.email)
    log_in(other, user.email)
    other_record = session_records(user)[1]
    url = f"/account/sessions/{other_record.id}/end"
    assert here.post(url).status_code == 400  # no CSRF token, nothing ends
    assert signed_in(other)
    response = here.post(url, data={"csrf_token": csrf_token(here, "/account/sessions")})
    assert response.status_code == 302
    assert not signed_in(other)
    assert signed_in(here)


def test_ending_this_or_someone_elses_session_is_refused(app: Flask, make_user) -> None:
    user, stranger = make_user(), make_user()
    here, theirs = app.test_client(), app.test_client()
    log_in(here, user.email)
    log_in(theirs, stranger.email)
    [own] = session_records(user)
    [foreign] = session_records(stranger)
    token = csrf_token(here, "/account/sessions")
    for record in (own, foreign):
        response = here.post(f"/account/sessions/{record.id}/end", data={"csrf_token": token})
        assert response.status_code == 409
    assert signed_in(here) and signed_in(theirs)
    assert here.post("/account/sessions/99999/end", data={"csrf_token": token}).status_code == 409
    # Beyond any id the database can hold: the bounded id converter answers 404 before the view.
    assert here.post(f"/account/sessions/{2**63}/end", data={"csrf_token": token}).status_code == 404


def test_end_all_other_sessions(app: Flask, make_user) -> None:
    user = make_user(Role.REVIEWER)
    here, laptop, phone = app.test_client(), app.test_client(), app.test_client()
    for client in (here, laptop, phone):
        log_in(client, user.email)
    response = here.post("/account/sessions/end-others", data={"csrf_token": csrf_token(here, "/account/sessions")})
    assert response.status_code == 302
    assert signed_in(here)
    assert not signed_in(laptop) and not signed_in(phone)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.sessions_ended"))
    assert event.details == {"count": 2}
