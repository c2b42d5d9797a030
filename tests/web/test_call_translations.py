"""A call's title, description and eligibility summary in Norwegian and Swedish: managers give
them in the call editor, readers (and email recipients) get their language's version, and the
main text where none was given; a clone keeps them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, OutboundEmail, User
from incubator.services import ServiceError
from incubator.services import calls as calls_service
from incubator.services.applications import submit_application
from tests.conftest import csrf_token
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant
from tests.web.test_call_editor import call_form

NORWEGIAN = {"title": "Høstopptak 2027", "description": "Vi **ønsker** kreftoppstartselskaper velkommen.",
             "eligibility_summary": "Nordiske selskaper"}


def test_the_editor_saves_and_shows_the_translations(manager_client: FlaskClient) -> None:
    template = make_call()
    data = call_form(manager_client, "/manage/calls/new", template, title_nb=NORWEGIAN["title"],
                     description_nb=NORWEGIAN["description"], eligibility_summary_nb=" Nordiske selskaper ",
                     title_sv="Höstintag 2027", description_sv="", eligibility_summary_sv="")
    response = manager_client.post("/manage/calls/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    call = db.session.scalar(select(Call).where(Call.slug == "autumn-2027"))
    # Stripped, and an empty text is not stored, so that reader falls back to the main one.
    assert call.translations == {"nb": NORWEGIAN, "sv": {"title": "Höstintag 2027"}}
    page = manager_client.get(f"/manage/calls/{call.id}/edit").get_data(as_text=True)
    assert 'name="title_nb"' in page and 'value="Høstopptak 2027"' in page
    assert 'value="Höstintag 2027"' in page and "Nordiske selskaper</textarea>" in page


def test_a_too_long_translated_title_is_refused_with_400(manager_client: FlaskClient) -> None:
    template = make_call()
    data = call_form(manager_client, "/manage/calls/new", template, title_sv="x" * 201)
    response = manager_client.post("/manage/calls/new", data=data)
    assert response.status_code == 400
    assert "Field cannot be longer than 200 characters." in response.get_data(as_text=True)
    assert db.session.scalar(select(Call).where(Call.slug == "autumn-2027")) is None


def test_a_norwegian_visitor_sees_the_norwegian_texts_and_a_swede_the_main_ones(client: FlaskClient) -> None:
    call = make_call(title="Autumn intake", description="We **welcome** startups.",
                     eligibility_summary="Nordic companies",
                     translations={"nb": {**NORWEGIAN, "description": "Vi **ønsker** dere. <script>x()</script>"}})
    page = client.get(f"/calls/{call.slug}", headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert "<h1 class=\"h2\">Høstopptak 2027</h1>" in page and "<strong>ønsker</strong>" in page
    assert "Nordiske selskaper" in page and "<script>x()" not in page
    assert "Autumn intake" not in page and "welcome" not in page
    listing = client.get("/", headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert "Høstopptak 2027" in listing and "Nordiske selskaper" in listing
    page = client.get(f"/calls/{call.slug}", headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert "<h1 class=\"h2\">Autumn intake</h1>" in page and "<strong>welcome</strong>" in page
    assert "Nordic companies" in page and "Høstopptak" not in page


def test_a_missing_translated_text_falls_back_to_the_main_one(client: FlaskClient) -> None:
    call = make_call(title="Autumn intake", description="Main description.", translations={"nb": {"title": "Høst"}})
    page = client.get(f"/calls/{call.slug}", headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert "<h1 class=\"h2\">Høst</h1>" in page and "Main description." in page


def test_clone_copies_the_translations(manager_client: FlaskClient) -> None:
    source = make_call(translations={"nb": dict(NORWEGIAN), "sv": {"title": "Höstintag"}})
    path = f"/manage/calls/{source.id}/clone"
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, path),
                                               "title": "Spring 2028", "slug": "spring-2028"})
    assert response.status_code == 302
    clone = db.session.scalar(select(Call).where(Call.slug == "spring-2028"))
    assert clone.translations == {"nb": NORWEGIAN, "sv": {"title": "Höstintag"}}


def test_the_submission_email_names_the_call_in_the_recipients_language(app: Flask) -> None:
    call = make_call(title="Autumn intake", translations={"sv": {"title": "Höstintag"}})
    swede = make_applicant(locale="sv")
    application = make_application(swede, call, complete=True)
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        submit_application(application, swede, utcnow())
        db.session.commit()
    email = db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == swede.email)).one()
    assert "Höstintag" in email.subject and "Höstintag" in email.body_text
    assert "Autumn intake" not in email.subject + email.body_text


def test_the_service_refuses_a_translation_over_the_main_texts_limit(make_user: Callable[..., User]) -> None:
    """Callers other than the editor form (CLI, demo data) meet the same limits."""
    template = make_call()
    now = utcnow()
    item = calls_service.CallInput(
        title="Autumn", slug="autumn-limits", description="", eligibility_summary="", timezone="Europe/Oslo",
        opens_at=now + dt.timedelta(days=1), closes_at=now + dt.timedelta(days=30), review_deadline=None,
        decision_date=None, reviewers_per_application=2, disagreement_threshold=Decimal("1.00"),
        programmes=[calls_service.OfferedProgramme(programme_id=template.programmes[0].programme_id)],
        translations={"sv": {"eligibility_summary": "x" * 5001}})
    with pytest.raises(ServiceError, match="longer than 5000 characters") as refused:
        calls_service.create_call(make_user(Role.MANAGER), item)
    assert refused.value.field == "eligibility_summary_sv"
    accepted = calls_service.create_call(make_user(Role.MANAGER), dataclasses.replace(
        item, translations={"sv": {"eligibility_summary": "x" * 5000}, "de": {"title": "Herbst"}}))
    assert accepted.translations == {"sv": {"eligibility_summary": "x" * 5000}}  # unknown languages dropped
