"""A startup applies: call pages, steps saved as drafts, submission, withdrawal, isolation."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, AuditEvent, Call, OutboundEmail, Programme
from incubator.services.demo import seed_demo_data
from tests.conftest import csrf_token, log_in
from tests.factories import make_application

TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def call(app: Flask) -> Call:
    seed_demo_data(utcnow())
    db.session.commit()
    return db.session.scalar(select(Call))


def programme_id(slug: str) -> int:
    return db.session.scalar(select(Programme.id).where(Programme.slug == slug))


def start(client: FlaskClient, call: Call) -> int:
    page = f"/calls/{call.slug}"
    response = client.post(f"{page}/apply", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/applications/(\d+)/steps/company", response.headers["Location"]).group(1))


def save(client: FlaskClient, application_id: int, step: str, **data):
    url = f"/applications/{application_id}/steps/{step}"
    data["csrf_token"] = csrf_token(client, url)
    return client.post(url, data=data)


COMPLETE_STEPS = {
    "company": {"company_name": "TumourTech AS", "country": "NO", "org_number": "923 609 016",
                "founded_year": "2021", "employees": "7", "website": "https://tumourtech.no"},
    "focus": {"focus_area": "radiopharmaceuticals", "development_stage": "preclinical", "funding_raised_eur": "1500000"},
    "team": {"team": "Two founders from the Radium Hospital."},
    "project": {"project_summary": "A targeted alpha therapy.", "unmet_need": "Metastatic prostate cancer."},
    "residency": {"residency_purposes": ["lab", "industrial_expertise"], "space_type": "office_lab",
                  "space_needs": "Radiochemistry lab bench."},
}


def fill_everything(client: FlaskClient, application_id: int) -> None:
    for step, data in COMPLETE_STEPS.items():
        assert save(client, application_id, step, **data).status_code == 302, step
    start_month = (utcnow().date().replace(day=1) + dt.timedelta(days=95)).strftime("%Y-%m")
    response = save(client, application_id, "preferences", first_choice=str(programme_id("bioventurehub-exchange")),
                    second_choice=str(programme_id("occ-incubator")), desired_start=start_month,
                    desired_length_months="12")
    assert response.status_code == 302, response.get_data(as_text=True)
    upload_pitch_deck(client, application_id)


def upload_pitch_deck(client: FlaskClient, application_id: int, content: bytes = TINY_PDF):
    url = f"/applications/{application_id}/steps/attachments"
    return client.post(f"/applications/{application_id}/attachments",
                       data={"csrf_token": csrf_token(client, url), "kind": "pitch_deck",
                             "file": (io.BytesIO(content), "deck.pdf", "application/pdf")},
                       content_type="multipart/form-data")


def submit(client: FlaskClient, application_id: int, consent: bool = True):
    url = f"/applications/{application_id}/steps/review"
    data = {"csrf_token": csrf_token(client, url)}
    if consent:
        data["consent"] = "y"
    return client.post(f"/applications/{application_id}/submit", data=data)


def test_call_page_shows_programmes_eligibility_and_deadline(client: FlaskClient, call: Call) -> None:
    page = client.get(f"/calls/{call.slug}").get_data(as_text=True)
    assert "OCC Incubator" in page and "BioVentureHub exchange" in page
    assert "For companies registered in Norway" in page
    assert "Create an account to apply" in page
    assert client.get("/calls/no-such-call").status_code == 404


def test_draft_is_saved_step_by_step_and_resumed_from_dashboard(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    assert save(applicant_client, application_id, "company", **COMPLETE_STEPS["company"]).headers["Location"].endswith("/steps/focus")
    application = db.session.get(Application, application_id)
    assert (application.company_name, application.org_number, application.country) == ("TumourTech AS", "923609016", "NO")
    dashboard = applicant_client.get("/dashboard").get_data(as_text=True)
    assert "TumourTech AS" in dashboard and f"/applications/{application_id}/steps/focus" in dashboard
    form = applicant_client.get(f"/applications/{application_id}/steps/company").get_data(as_text=True)
    assert 'value="TumourTech AS"' in form


def test_starting_twice_returns_the_same_draft(applicant_client: FlaskClient, call: Call) -> None:
    assert start(applicant_client, call) == start(applicant_client, call)
    assert db.session.scalar(select(func.count()).select_from(Application)) == 1


def test_bad_input_is_refused_next_to_the_field_and_keeps_what_was_typed(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    save(applicant_client, application_id, "company", company_name="Saved Name AS")
    response = save(applicant_client, application_id, "company", company_name="New Name AS", founded_year="18xx",
                    employees="-3", website="javascript:alert(1)")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Not a valid integer value." in page and "Enter a whole number from 0." in page
    assert "Enter a web address starting with https://" in page
    assert 'value="New Name AS"' in page  # what was typed is shown again
    assert db.session.get(Application, application_id).company_name == "Saved Name AS"  # what was saved stays


def test_over_long_text_is_refused(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    response = save(applicant_client, application_id, "team", team="x" * 5001)
    assert response.status_code == 400
    assert "Use at most 5000 characters." in response.get_data(as_text=True)


def test_script_and_html_in_text_fields_are_shown_escaped(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    save(applicant_client, application_id, "company", company_name="<b>Bold</b><script>alert(1)</script>")
    save(applicant_client, application_id, "team", team="<img src=x onerror=alert(1)>")
    for url in [f"/applications/{application_id}/steps/review", f"/applications/{application_id}", "/dashboard"]:
        page = applicant_client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page and "<img src=x" not in page, url
        assert "&lt;script&gt;" in page, url


def test_bioventurehub_exchange_refused_for_a_swedish_company(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    save(applicant_client, application_id, "company", country="SE")
    response = save(applicant_client, application_id, "preferences", first_choice=str(programme_id("bioventurehub-exchange")))
    assert response.status_code == 400
    assert "BioVentureHub exchange is for companies registered in Norway." in response.get_data(as_text=True)
    assert db.session.get(Application, application_id).preferences == []


def test_same_programme_twice_is_refused(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    occ = str(programme_id("occ-incubator"))
    response = save(applicant_client, application_id, "preferences", first_choice=occ, second_choice=occ)
    assert "Choose a different programme than your first choice" in response.get_data(as_text=True)


def test_submit_with_missing_answers_lists_them_and_keeps_the_draft(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    save(applicant_client, application_id, "company", company_name="Half Done AS")
    response = submit(applicant_client, application_id)
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "Some answers are missing:" in page and "Pitch deck (PDF)" in page and "Organisation number" in page
    application = db.session.get(Application, application_id)
    assert application.state == "draft" and application.company_name == "Half Done AS"


def test_submission_confirms_by_email_and_locks_the_application(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    fill_everything(applicant_client, application_id)
    response = submit(applicant_client, application_id)
    assert response.status_code == 302, response.get_data(as_text=True)
    application = db.session.get(Application, application_id)
    assert application.state == "submitted" and application.submitted_at is not None and application.consent
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "application_submitted"))
    assert email.to_address == applicant_client.user.email
    assert "TumourTech AS" in email.body_text and "1. BioVentureHub exchange" in email.body_text
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "application.submitted"))
    # Read-only afterwards: steps redirect to the copy, a forged save is refused.
    assert applicant_client.get(f"/applications/{application_id}/steps/team").status_code == 302
    page = applicant_client.get(f"/applications/{application_id}").get_data(as_text=True)
    assert "Submitted" in page and "Draft started" in page


def test_submit_without_consent_is_refused(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    fill_everything(applicant_client, application_id)
    response = submit(applicant_client, application_id, consent=False)
    assert response.status_code == 409
    assert "Consent to processing" in response.get_data(as_text=True)


def close_call(call: Call) -> None:
    call.closes_at = utcnow() - dt.timedelta(minutes=1)
    call.opens_at = utcnow() - dt.timedelta(days=30)
    db.session.commit()


def test_after_the_deadline_submit_is_gone_and_a_forged_submit_is_refused(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    fill_everything(applicant_client, application_id)
    token = csrf_token(applicant_client, f"/applications/{application_id}/steps/review")
    close_call(call)
    review = applicant_client.get(f"/applications/{application_id}/steps/review").get_data(as_text=True)
    assert "Submit application" not in review and "The call is closed" in review
    response = applicant_client.post(f"/applications/{application_id}/submit", data={"csrf_token": token, "consent": "y"})
    assert response.status_code == 409
    assert "The call closed; applications can no longer be changed or submitted." in response.get_data(as_text=True)
    application = db.session.get(Application, application_id)
    assert application.state == "draft" and application.company_name == "TumourTech AS"


def test_deadline_passing_while_a_step_is_open_refuses_the_save_clearly(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    url = f"/applications/{application_id}/steps/team"
    token = csrf_token(applicant_client, url)
    close_call(call)
    response = applicant_client.post(url, data={"csrf_token": token, "team": "Typed after the deadline"})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "The call closed" in page and "Typed after the deadline" in page


def test_withdraw_records_reason_and_keeps_the_application(applicant_client: FlaskClient, call: Call) -> None:
    application_id = start(applicant_client, call)
    fill_everything(applicant_client, application_id)
    submit(applicant_client, application_id)
    url = f"/applications/{application_id}/withdraw"
    response = applicant_client.post(url, data={"csrf_token": csrf_token(applicant_client, url), "reason": "Funded elsewhere"})
    assert response.status_code == 302
    application = db.session.get(Application, application_id)
    assert application.state == "withdrawn" and application.withdrawal_reason == "Funded elsewhere"
    assert "Funded elsewhere" in applicant_client.get(f"/applications/{application_id}").get_data(as_text=True)
    again = applicant_client.post(url, data={"csrf_token": csrf_token(applicant_client, url)})
    assert again.status_code == 409


def test_one_application_per_company_per_call(app: Flask, applicant_client: FlaskClient, make_user, call: Call) -> None:
    first = start(applicant_client, call)
    save(applicant_client, first, "company", country="NO", org_number="923609016")
    colleague = make_user(Role.APPLICANT)
    other = app.test_client()
    log_in(other, colleague.email)
    second = start(other, call)
    response = save(other, second, "company", country="NO", org_number="923 609 016")
    assert response.status_code == 400
    assert "already exists in this call" in response.get_data(as_text=True)


def test_applicant_cannot_see_or_change_another_applicants_application(app: Flask, applicant_client: FlaskClient,
                                                                      make_user, call: Call) -> None:
    victim_id = start(applicant_client, call)
    fill_everything(applicant_client, victim_id)
    attachment_id = db.session.get(Application, victim_id).attachments[0].id
    intruder = make_user(Role.APPLICANT)
    client = app.test_client()
    log_in(client, intruder.email)
    token = csrf_token(client, "/password/change")
    gets = [f"/applications/{victim_id}", f"/applications/{victim_id}/withdraw",
            f"/applications/{victim_id}/attachments/{attachment_id}"]
    gets += [f"/applications/{victim_id}/steps/{step}" for step in
             ("company", "focus", "team", "project", "residency", "preferences", "attachments", "review")]
    for url in gets:
        assert client.get(url).status_code in (403, 404), url
    posts = {f"/applications/{victim_id}/steps/company": {"company_name": "Hijacked"},
             f"/applications/{victim_id}/submit": {"consent": "y"},
             f"/applications/{victim_id}/withdraw": {"reason": "x"},
             f"/applications/{victim_id}/attachments": {"kind": "other"},
             f"/applications/{victim_id}/attachments/{attachment_id}/delete": {}}
    for url, data in posts.items():
        assert client.post(url, data={**data, "csrf_token": token}).status_code in (403, 404), url
    application = db.session.get(Application, victim_id)
    db.session.refresh(application)
    assert application.company_name == "TumourTech AS" and application.state == "draft"
    assert len(application.attachments) == 1


def test_reviewer_and_manager_cannot_start_applications(reviewer_client: FlaskClient, call: Call) -> None:
    page = f"/calls/{call.slug}"
    response = reviewer_client.post(f"{page}/apply", data={"csrf_token": csrf_token(reviewer_client, "/password/change")})
    assert response.status_code == 403


def test_manager_can_read_a_submitted_application(app: Flask, applicant_client: FlaskClient, manager_client: FlaskClient,
                                                  call: Call) -> None:
    application_id = start(applicant_client, call)
    fill_everything(applicant_client, application_id)
    submit(applicant_client, application_id)
    page = manager_client.get(f"/applications/{application_id}").get_data(as_text=True)
    assert "TumourTech AS" in page and "Withdraw" not in page
    deck = db.session.get(Application, application_id).attachments[0]
    download = manager_client.get(f"/applications/{application_id}/attachments/{deck.id}")
    assert download.status_code == 200
    assert hashlib.sha256(download.data).hexdigest() == hashlib.sha256(TINY_PDF).hexdigest()


def test_assigned_reviewer_loses_access_when_the_application_is_withdrawn(app: Flask, make_user) -> None:
    from incubator.models import Assignment
    from tests.factories import make_call

    reviewer = make_user(Role.REVIEWER)
    application = make_application(make_user(Role.APPLICANT), make_call(), state="submitted", complete=True)
    db.session.add(Assignment(application_id=application.id, reviewer_id=reviewer.id))
    db.session.commit()
    client = app.test_client()
    log_in(client, reviewer.email)
    assert client.get(f"/applications/{application.id}").status_code == 200
    application.state, application.withdrawn_at = "withdrawn", utcnow()
    db.session.commit()
    assert client.get(f"/applications/{application.id}").status_code == 404


def test_a_decided_application_offers_no_withdraw_form(applicant_client: FlaskClient, call: Call) -> None:
    application = make_application(applicant_client.user, call, state="rejected", complete=True,
                                   submitted_at=utcnow(), decision_released_at=utcnow())
    db.session.commit()
    url = f"/applications/{application.id}/withdraw"
    assert 'href="' + url + '"' not in applicant_client.get(f"/applications/{application.id}").get_data(as_text=True)
    response = applicant_client.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and 'name="reason"' not in page
    assert "can no longer be withdrawn" in page
    refused = applicant_client.post(url, data={"csrf_token": csrf_token(applicant_client, "/dashboard"), "reason": "x"})
    assert refused.status_code == 409
    db.session.refresh(application)
    assert application.state == "rejected"
