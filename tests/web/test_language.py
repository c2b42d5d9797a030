"""Choosing the language: profile, then cookie, then Accept-Language, then English; the switcher
on every page; emails in the recipient's language whoever triggers them; dates by locale."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale, refresh
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import LOCALE_COOKIE, db
from incubator.models import OutboundEmail, User
from incubator.services import accounts
from incubator.web.templating import local_datetime
from tests.conftest import csrf_token, log_in


def html_lang(page: str) -> str:
    match = re.search(r'<html lang="([a-z]+)">', page)
    assert match, "no <html lang>"
    return match.group(1)


def login_heading(client: FlaskClient, **headers: str) -> tuple[str, str]:
    page = client.get("/login", headers=headers).get_data(as_text=True)
    return html_lang(page), re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S).group(1).strip()


def choose(client: FlaskClient, locale: str, next_path: str = "/login", form_page: str = "/login"):
    """Submit the header's switcher as it appears on ``form_page``."""
    return client.post("/language", data={"locale": locale, "next": next_path,
                                          "csrf_token": csrf_token(client, form_page)})


def test_accept_language_picks_norwegian_swedish_or_english(client: FlaskClient) -> None:
    assert login_heading(client, **{"Accept-Language": "nb-NO,nb;q=0.9,en;q=0.5"}) == ("nb", "Logg inn")
    assert login_heading(client, **{"Accept-Language": "sv-SE"}) == ("sv", "Logga in")
    # Norwegian browsers often send only the macro language; bokmål is what we have.
    assert login_heading(client, **{"Accept-Language": "no,en;q=0.8"}) == ("nb", "Logg inn")
    assert login_heading(client, **{"Accept-Language": "de-DE,fr;q=0.9"}) == ("en", "Log in")
    assert login_heading(client) == ("en", "Log in")


def test_a_visitor_switches_with_the_header_form_and_the_cookie_remembers_it(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'action="/language"' in page and 'name="locale"' in page  # the switcher is on the page
    response = choose(client, "sv", "/register?x=1")
    assert response.status_code == 302 and response.headers["Location"] == "/register?x=1"
    assert f"{LOCALE_COOKIE}=sv" in response.headers["Set-Cookie"]
    # The cookie wins over the browser's Accept-Language.
    assert login_heading(client, **{"Accept-Language": "nb"}) == ("sv", "Logga in")


def test_an_unknown_language_or_foreign_next_changes_nothing(client: FlaskClient) -> None:
    response = choose(client, "de", "//evil.example/")
    assert response.status_code == 302 and not response.headers["Location"].startswith("//")
    assert "Set-Cookie" not in response.headers or f"{LOCALE_COOKIE}=" not in response.headers["Set-Cookie"]
    page = client.get(response.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "That language is not offered." in page


def test_a_signed_in_choice_is_kept_in_the_profile_for_the_next_browser(
        app: Flask, make_user: Callable[..., User]) -> None:
    user = make_user(Role.APPLICANT)
    first = app.test_client()
    log_in(first, user.email)
    choose(first, "nb", "/dashboard", form_page="/dashboard")
    db.session.expire_all()
    assert db.session.get(User, user.id).locale == "nb"
    other = app.test_client()  # no cookie here: the profile decides
    log_in(other, user.email)
    page = other.get("/dashboard", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert html_lang(page) == "nb" and "Mine søknader" in page


def test_an_email_goes_out_in_the_recipients_language_not_the_senders(
        app: Flask, client: FlaskClient, make_user: Callable[..., User]) -> None:
    swede = make_user(Role.APPLICANT, locale="sv")
    client.post("/password/forgot", data={"email": swede.email, "csrf_token": csrf_token(client, "/password/forgot")},
                headers={"Accept-Language": "en"})
    email = db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == swede.email)).one()
    assert email.subject == "Återställ ditt lösenord"
    assert email.body_text.startswith(f"Hej {swede.name},") and "Välj ett nytt lösenord här" in email.body_text


def test_a_visitor_who_registers_in_norwegian_gets_norwegian_email(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context("/register", headers={"Accept-Language": "nb"}):
        refresh()  # the test's app context may hold a locale from before this request
        user = accounts.register_applicant("ny@example.org", "Nora Ny", "a long enough phrase 42")
        db.session.commit()
    assert user is not None and user.locale == "nb"
    email = db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == "ny@example.org")).one()
    assert email.subject == "Kontoen din i OCC Incubator er klar"


def test_dates_follow_the_language_in_the_calls_time_zone(app: Flask) -> None:
    moment = dt.datetime(2027, 2, 28, 11, 0, tzinfo=dt.UTC)
    expected = {"en": "28 Feb 2027, 12:00 CET", "nb": "28 feb. 2027, 12:00 CET", "sv": "28 feb. 2027, 12:00 CET"}
    for language, text in expected.items():
        with force_locale(language):
            assert local_datetime(moment, "Europe/Oslo") == text
    with force_locale("sv"):
        assert local_datetime(moment, "America/New_York") == "28 feb. 2027, 06:00 EST"
