"""Managers create, edit, clone, preview and publish calls from the web; drafts stay hidden from
the public and applicants; refusals come back with their reason and a 4xx."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Call, CallQuestion
from tests.conftest import csrf_token
from tests.factories import make_call

OSLO = ZoneInfo("Europe/Oslo")


def local(value: dt.datetime) -> str:
    return value.astimezone(OSLO).strftime("%Y-%m-%dT%H:%M")


def call_form(client: FlaskClient, path: str, template: Call, **overrides: str) -> dict[str, str]:
    now = utcnow()
    data = {"csrf_token": csrf_token(client, path), "title": "Autumn intake 2027", "slug": "autumn-2027",
            "description": "We **welcome** oncology startups.", "eligibility_summary": "Nordic companies",
            "timezone": "Europe/Oslo", "opens_at": local(now + dt.timedelta(days=1)),
            "closes_at": local(now + dt.timedelta(days=30)), "review_deadline": local(now + dt.timedelta(days=45)),
            "decision_date": (now + dt.timedelta(days=60)).date().isoformat(), "reviewers_per_application": "2",
            "disagreement_threshold": "1.00"}
    for index, row in enumerate(template.programmes):
        data.update({f"programmes-{index}-programme_id": str(row.programme_id), f"programmes-{index}-offered": "y",
                     f"programmes-{index}-eligible_countries": ", ".join(row.eligible_countries),
                     f"programmes-{index}-eligibility_note": row.eligibility_note})
    data.update(overrides)
    return data


def test_manager_creates_a_draft_call_in_the_calls_time_zone(manager_client: FlaskClient) -> None:
    template = make_call()
    data = call_form(manager_client, "/manage/calls/new", template, opens_at="2027-09-01T09:00",
                     closes_at="2027-10-01T12:00", review_deadline="2027-11-01T12:00", decision_date="2027-11-15")
    response = manager_client.post("/manage/calls/new", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    call = db.session.scalar(select(Call).where(Call.slug == "autumn-2027"))
    assert call.state == "draft"
    assert call.opens_at == dt.datetime(2027, 9, 1, 7, 0, tzinfo=dt.UTC)  # 09:00 CEST
    assert call.closes_at == dt.datetime(2027, 10, 1, 10, 0, tzinfo=dt.UTC)
    assert [row.programme.name for row in call.programmes] == ["OCC Incubator", "BioVentureHub exchange"]
    assert call.programmes[1].eligible_countries == ["NO"]
    listing = manager_client.get("/manage/calls").get_data(as_text=True)
    assert "Autumn intake 2027" in listing and "draft" in listing


def test_bad_call_input_gets_a_clear_message_and_400(manager_client: FlaskClient) -> None:
    template = make_call()
    cases = [
        ({"closes_at": local(utcnow() - dt.timedelta(days=5))}, "The call must close after it opens."),
        ({"reviewers_per_application": "0"}, "Each application needs at least one reviewer."),
        ({"slug": template.slug}, f"Another call uses the web address {template.slug}; choose another slug."),
        ({"slug": "Has Spaces"}, "Use lowercase letters, digits and single hyphens in the slug"),
        ({"timezone": "Oslo"}, "Oslo is not a time zone name; use one like Europe/Oslo."),
        ({"programmes-0-offered": "", "programmes-1-offered": ""}, "Offer at least one programme in the call."),
        ({"programmes-0-eligible_countries": "XX"}, "Unknown country code(s): XX."),
        ({"opens_at": "tomorrow"}, "Not a valid datetime value."),
    ]
    for overrides, message in cases:
        data = call_form(manager_client, "/manage/calls/new", template, **overrides)
        response = manager_client.post("/manage/calls/new", data=data)
        assert response.status_code == 400, overrides
        assert message in response.get_data(as_text=True), overrides
    assert db.session.scalar(select(Call).where(Call.slug == "autumn-2027")) is None


def test_editing_an_opened_call_to_close_earlier_is_refused_with_409(manager_client: FlaskClient) -> None:
    call = make_call()
    path = f"/manage/calls/{call.id}/edit"
    page = manager_client.get(path).get_data(as_text=True)
    assert f'value="{call.slug}"' in page
    data = call_form(manager_client, path, call, slug=call.slug, opens_at=local(call.opens_at),
                     closes_at=local(call.closes_at - dt.timedelta(days=2)))
    response = manager_client.post(path, data=data)
    assert response.status_code == 409
    assert "The call has opened; its closing time can only move later." in response.get_data(as_text=True)
    data = call_form(manager_client, path, call, slug=call.slug, opens_at=local(call.opens_at),
                     closes_at=local(call.closes_at + dt.timedelta(days=2)), title="Extended")
    assert manager_client.post(path, data=data).status_code == 302
    db.session.refresh(call)
    assert call.title == "Extended"


def test_draft_is_hidden_from_the_public_and_applicants_until_published(
        manager_client: FlaskClient, applicant_client: FlaskClient, client: FlaskClient) -> None:
    call = make_call(state="draft", title="Secret intake")
    for visitor in (client, applicant_client):
        assert visitor.get(f"/calls/{call.slug}").status_code == 404
        assert "Secret intake" not in visitor.get("/").get_data(as_text=True)
    token = csrf_token(manager_client, f"/manage/calls/{call.id}")
    response = manager_client.post(f"/manage/calls/{call.id}/publish", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(call)
    assert call.state == "published"
    assert client.get(f"/calls/{call.slug}").status_code == 200
    assert "Secret intake" in client.get("/").get_data(as_text=True)


def test_published_call_is_hidden_before_its_opening_time(client: FlaskClient) -> None:
    call = make_call(opens_at=utcnow() + dt.timedelta(days=2), closes_at=utcnow() + dt.timedelta(days=20))
    assert client.get(f"/calls/{call.slug}").status_code == 404


def test_publishing_with_a_closing_time_in_the_past_is_refused_with_the_reason(manager_client: FlaskClient) -> None:
    call = make_call(state="draft", opens_at=utcnow() - dt.timedelta(days=9), closes_at=utcnow() - dt.timedelta(days=1))
    token = csrf_token(manager_client, f"/manage/calls/{call.id}")
    response = manager_client.post(f"/manage/calls/{call.id}/publish", data={"csrf_token": token})
    assert response.status_code == 409
    assert "The closing time is in the past; move it later before publishing." in response.get_data(as_text=True)
    db.session.refresh(call)
    assert call.state == "draft"


def test_closing_an_open_call_early_is_refused_and_a_past_one_moves_on(manager_client: FlaskClient) -> None:
    call = make_call()
    token = csrf_token(manager_client, f"/manage/calls/{call.id}")
    response = manager_client.post(f"/manage/calls/{call.id}/advance", data={"csrf_token": token})
    assert response.status_code == 409
    assert "The call is still open" in response.get_data(as_text=True)
    past = make_call(opens_at=utcnow() - dt.timedelta(days=9), closes_at=utcnow() - dt.timedelta(days=1))
    assert "Move the call to: closed" in manager_client.get(f"/manage/calls/{past.id}").get_data(as_text=True)
    response = manager_client.post(f"/manage/calls/{past.id}/advance", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(past)
    assert past.state == "closed"


def test_clone_makes_a_new_draft_and_a_taken_slug_is_refused(manager_client: FlaskClient) -> None:
    source = make_call()
    source.questions = [CallQuestion(position=0, variant="yes_no", label="Do you have lab staff?", required=True)]
    db.session.commit()
    path = f"/manage/calls/{source.id}/clone"
    page = manager_client.get(path).get_data(as_text=True)
    assert f'value="{source.slug}-copy"' in page
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, path),
                                               "title": "Again", "slug": source.slug})
    assert response.status_code == 400
    assert f"Another call uses the web address {source.slug}" in response.get_data(as_text=True)
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, path),
                                               "title": "Spring 2028", "slug": "spring-2028"})
    assert response.status_code == 302
    clone = db.session.scalar(select(Call).where(Call.slug == "spring-2028"))
    assert response.headers["Location"] == f"/manage/calls/{clone.id}/edit"
    assert clone.state == "draft" and [q.label for q in clone.questions] == ["Do you have lab staff?"]


def test_preview_shows_the_public_page_and_the_form_read_only(manager_client: FlaskClient) -> None:
    call = make_call(state="draft", description="Apply **now**.\n\n<script>alert(1)</script>")
    call.questions = [CallQuestion(position=0, variant="short_text", label="Your lab's biosafety level?")]
    db.session.commit()
    page = manager_client.get(f"/manage/calls/{call.id}/preview").get_data(as_text=True)
    assert "Preview as applicant." in page and "The call is a draft" in page
    assert "<strong>now</strong>" in page and "<script>alert(1)</script>" not in page
    assert "Company name" in page and "Your lab&#39;s biosafety level?" in page
    assert "<fieldset class=\"border rounded p-3 mb-3\" disabled>" in page


def test_public_call_page_renders_markdown_without_raw_html(client: FlaskClient) -> None:
    call = make_call(description="# Welcome\n\n*Hello* <img src=x onerror=alert(1)> [site](javascript:alert(1))")
    page = client.get(f"/calls/{call.slug}").get_data(as_text=True)
    assert "<h3>Welcome</h3>" in page and "<em>Hello</em>" in page
    assert "<img" not in page and 'href="javascript' not in page


def test_call_editor_pages_are_for_managers_only(reviewer_client: FlaskClient, applicant_client: FlaskClient) -> None:
    call = make_call(state="draft")
    for visitor in (reviewer_client, applicant_client):
        for path in ("/manage/calls", "/manage/calls/new", f"/manage/calls/{call.id}/edit",
                     f"/manage/calls/{call.id}/clone", f"/manage/calls/{call.id}/preview"):
            assert visitor.get(path).status_code == 403, path
        assert visitor.post(f"/manage/calls/{call.id}/publish").status_code in (400, 403)
    db.session.refresh(call)
    assert call.state == "draft"


def test_the_overview_marks_a_draft_call_as_draft(manager_client: FlaskClient) -> None:
    make_call(state="draft", title="Quiet intake")
    page = manager_client.get("/manage/").get_data(as_text=True)
    row = page[page.index("Quiet intake"):]
    row = row[:row.index("</tr>")]
    assert '<span class="badge text-bg-light">draft</span>' in row and "open" not in row
