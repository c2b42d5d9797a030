"""A person's own data: the privacy page, the export and erasure of the account."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Attachment, AuditEvent, ProgrammePreference, User
from incubator.storage import file_storage
from tests.conftest import PASSWORD, csrf_token, log_in
from tests.factories import TINY_PDF, make_application, make_attachment, make_call

APPENDIX_PDF = b"%PDF-1.7\n% appendix\n%%EOF\n"


def erase(client: FlaskClient, password: str = PASSWORD):
    return client.post("/account/erase", data={"password": password, "confirm": "y",
                                               "csrf_token": csrf_token(client, "/account/erase")})


def field_error(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error"[^>]*>(.*?)</div>', page, re.S)
    return match.group(1).strip() if match else ""


def stored_files(app: Flask) -> list[Path]:
    root = Path(app.config["UPLOAD_FOLDER"])
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def reload(instance):
    db.session.expire_all()
    return db.session.get(type(instance), instance.id)


# --- the page ---------------------------------------------------------------------------------


def test_privacy_page_offers_download_and_erasure(applicant_client: FlaskClient) -> None:
    response = applicant_client.get("/account/privacy")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'href="/account/export"' in page
    assert "Download my data" in page
    assert 'href="/account/erase"' in page and "This cannot be undone." in page
    confirm = applicant_client.get("/account/erase").get_data(as_text=True)
    assert 'action="/account/erase"' in confirm and "This cannot be undone." in confirm
    assert re.search(r'<input[^>]*name="password"[^>]*type="password"', confirm)


def test_privacy_page_when_logged_out_redirects_to_login(client: FlaskClient) -> None:
    for url in ("/account/privacy", "/account/export"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login?next="), url


def test_privacy_page_lists_applications_under_review(applicant_client: FlaskClient) -> None:
    make_application(applicant_client.user, make_call(), state="submitted", complete=True)
    page = applicant_client.get("/account/privacy").get_data(as_text=True)
    assert "Under review now:" in page
    assert "TumourTech AS" in page


# --- export -----------------------------------------------------------------------------------


def test_export_contains_account_applications_and_files(applicant_client: FlaskClient, make_user) -> None:
    user = applicant_client.user
    call = make_call()
    application = make_application(user, call, state="submitted", complete=True)
    [deck] = application.attachments
    appendix = make_attachment(application, kind="other", filename="Letter of <support>.pdf", content=APPENDIX_PDF)
    db.session.add(ProgrammePreference(application_id=application.id, programme_id=call.programmes[1].programme_id,
                                       rank=2))
    manager = make_user(Role.MANAGER)
    db.session.add_all([
        AuditEvent(actor_id=user.id, action="application.submitted", subject_type="application",
                   subject_id=application.id, details={"call_id": call.id}, ip_address="192.0.2.7"),
        AuditEvent(actor_id=manager.id, action="application.under_review", subject_type="application",
                   subject_id=application.id, details={"note": "staff only"}, ip_address="198.51.100.1"),
    ])
    db.session.commit()

    response = applicant_client.get("/account/export")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == f'attachment; filename="my-data-{utcnow():%Y-%m-%d}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert sorted(archive.namelist()) == sorted([
        "account.json", "applications.json",
        f"attachments/{application.id}/{deck.id}-deck.pdf",
        f"attachments/{application.id}/{appendix.id}-Letter_of_support.pdf",
    ])
    assert archive.read(f"attachments/{application.id}/{deck.id}-deck.pdf") == TINY_PDF
    assert archive.read(f"attachments/{application.id}/{appendix.id}-Letter_of_support.pdf") == APPENDIX_PDF

    account = json.loads(archive.read("account.json"))
    assert account["email"] == user.email and account["name"] == user.name and account["role"] == "applicant"
    assert "password_hash" not in account
    assert user.password_hash not in archive.read("account.json").decode()

    [exported] = json.loads(archive.read("applications.json"))
    assert exported["id"] == application.id
    assert exported["state"] == "submitted"
    assert exported["company_name"] == "TumourTech AS"
    assert exported["project_summary"] == "A targeted alpha therapy."
    assert exported["residency_purposes"] == ["lab"]
    # The committee's bookkeeping on the row stays out (how many reviewers it has, who decided).
    assert not {"assignment_count", "decided_by_id", "share_reviewer_comments"} & exported.keys()
    assert exported["call"] == {"id": call.id, "title": call.title}
    assert exported["preferences"] == [{"rank": 1, "programme": "OCC Incubator"},
                                       {"rank": 2, "programme": "BioVentureHub exchange"}]
    assert [(e["action"], e["by"]) for e in exported["history"]] == [("application.submitted", "you"),
                                                                     ("application.under_review", "staff")]
    assert exported["history"][0]["details"] == {"call_id": call.id}
    assert exported["history"][0]["ip_address"] == "192.0.2.7"
    assert "details" not in exported["history"][1] and "ip_address" not in exported["history"][1]
    assert [(a["id"], a["kind"], a["original_filename"], a["size_bytes"], a["file_in_export"])
            for a in exported["attachments"]] == [
        (deck.id, "pitch_deck", "deck.pdf", len(TINY_PDF), f"attachments/{application.id}/{deck.id}-deck.pdf"),
        (appendix.id, "other", "Letter of <support>.pdf", len(APPENDIX_PDF),
         f"attachments/{application.id}/{appendix.id}-Letter_of_support.pdf"),
    ]


def test_export_leaves_out_other_peoples_applications(applicant_client: FlaskClient, make_user) -> None:
    call = make_call()
    make_application(applicant_client.user, call, company_name="Mine AS")
    theirs = make_application(make_user(Role.APPLICANT), call, company_name="Theirs AS")
    make_attachment(theirs)
    archive = zipfile.ZipFile(io.BytesIO(applicant_client.get("/account/export").data))
    assert sorted(archive.namelist()) == ["account.json", "applications.json"]
    assert [a["company_name"] for a in json.loads(archive.read("applications.json"))] == ["Mine AS"]


def test_export_without_applications_has_empty_list(applicant_client: FlaskClient) -> None:
    archive = zipfile.ZipFile(io.BytesIO(applicant_client.get("/account/export").data))
    assert json.loads(archive.read("applications.json")) == []


def test_export_notes_a_missing_stored_file(applicant_client: FlaskClient) -> None:
    application = make_application(applicant_client.user, make_call())
    attachment = make_attachment(application)
    file_storage().delete(attachment.storage_key)
    archive = zipfile.ZipFile(io.BytesIO(applicant_client.get("/account/export").data))
    assert sorted(archive.namelist()) == ["account.json", "applications.json"]
    [exported] = json.loads(archive.read("applications.json"))
    assert exported["attachments"][0]["file_in_export"] is None


# --- erasure refused --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["submitted", "under_review"])
def test_erase_refused_while_application_under_review(app: Flask, applicant_client: FlaskClient, state: str) -> None:
    user = applicant_client.user
    application = make_application(user, make_call(), state=state, complete=True)
    response = erase(applicant_client)
    assert response.status_code == 409
    assert ("Your application &#34;TumourTech AS&#34; is under review; withdraw it first or wait for the decision."
            in response.get_data(as_text=True))
    user = reload(user)
    assert user.name != "Erased account" and user.active and user.password_hash
    assert reload(application).company_name == "TumourTech AS"
    assert len(stored_files(app)) == 1
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.erased")) is None
    assert applicant_client.get("/dashboard").status_code == 200


def test_erase_refused_names_call_when_company_is_not_named(applicant_client: FlaskClient) -> None:
    call = make_call(title="Spring intake")
    make_application(applicant_client.user, call, state="submitted")
    response = erase(applicant_client)
    assert response.status_code == 409
    assert ("Your application for Spring intake is under review; withdraw it first or wait for the decision."
            in response.get_data(as_text=True))


def test_erase_with_wrong_password_is_refused(app: Flask, applicant_client: FlaskClient) -> None:
    draft = make_application(applicant_client.user, make_call(), company_name="Draft AS")
    make_attachment(draft)
    response = erase(applicant_client, password="not my password at all")
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "password") == "Your password is not correct."
    assert reload(draft).company_name == "Draft AS"
    assert reload(applicant_client.user).active is True
    assert len(stored_files(app)) == 1
    assert applicant_client.get("/dashboard").status_code == 200


def test_erase_without_password_is_refused(applicant_client: FlaskClient) -> None:
    response = erase(applicant_client, password="")
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "password") == "Enter your password to confirm."
    assert reload(applicant_client.user).active is True


def test_erase_without_csrf_token_is_refused(applicant_client: FlaskClient) -> None:
    response = applicant_client.post("/account/erase", data={"password": PASSWORD})
    assert response.status_code == 400
    assert reload(applicant_client.user).active is True


# --- erasure ----------------------------------------------------------------------------------


def test_erase_deletes_drafts_and_anonymises_other_applications(app: Flask, applicant_client: FlaskClient,
                                                                make_user) -> None:
    user = applicant_client.user
    user_id = user.id
    draft = make_application(user, make_call(), company_name="Draft AS", team="Ada and Bo")
    make_attachment(draft)
    withdrawn = make_application(user, make_call(), state="withdrawn", complete=True,
                                 withdrawal_reason="We found space at Acme")
    accepted = make_application(user, make_call(), state="accepted", complete=True,
                                decided_at=utcnow(), decision_released_at=utcnow())  # released: may be erased
    make_attachment(accepted, kind="other", filename="letter.pdf", content=APPENDIX_PDF)
    manager = make_user(Role.MANAGER)
    db.session.add_all([
        AuditEvent(actor_id=user_id, action="application.withdrawn", subject_type="application",
                   subject_id=withdrawn.id, details={"previous_state": "submitted", "reason": "We found space at Acme"}),
        AuditEvent(actor_id=manager.id, action="application.decided", subject_type="application",
                   subject_id=accepted.id, details={"decision": "accepted"}),
    ])
    db.session.commit()
    draft_id, withdrawn_id, accepted_id = draft.id, withdrawn.id, accepted.id
    assert len(stored_files(app)) == 4

    response = erase(applicant_client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    db.session.expire_all()

    assert db.session.get(Application, draft_id) is None
    assert stored_files(app) == []
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    for application_id, state in ((withdrawn_id, "withdrawn"), (accepted_id, "accepted")):
        application = db.session.get(Application, application_id)
        assert application.state == state
        assert application.anonymised_at is not None
        assert application.applicant_id == user_id
        assert [application.company_name, application.org_number, application.website, application.team,
                application.project_summary, application.unmet_need, application.space_needs,
                application.withdrawal_reason] == [None] * 8
        assert (application.country, application.focus_area, application.development_stage,
                application.funding_raised_eur, application.employees, application.founded_year) == (
            "NO", "radiopharmaceuticals", "preclinical", 1_500_000, 7, 2021)
        assert application.submitted_at is not None and application.created_at is not None
        assert [pref.programme.name for pref in application.preferences] == ["OCC Incubator"]
        assert application.attachments == []

    user = db.session.get(User, user_id)
    assert (user.email, user.name, user.password_hash, user.active, user.affiliation) == (
        f"erased-{user_id}@erased.invalid", "Erased account", None, False, None)


def test_erase_keeps_audit_trail_without_personal_data(applicant_client: FlaskClient, make_user) -> None:
    user_id = applicant_client.user.id
    withdrawn = make_application(applicant_client.user, make_call(), state="withdrawn", complete=True)
    manager = make_user(Role.MANAGER)
    db.session.add_all([
        AuditEvent(actor_id=user_id, action="application.withdrawn", subject_type="application",
                   subject_id=withdrawn.id, details={"previous_state": "submitted", "reason": "Moved to Bergen"}),
        AuditEvent(actor_id=manager.id, action="application.decided", subject_type="application",
                   subject_id=withdrawn.id, details={"decision": "rejected"}),
    ])
    db.session.commit()
    events_before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    assert erase(applicant_client).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events_before + 1
    withdrawal = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "application.withdrawn"))
    assert (withdrawal.actor_id, withdrawal.details) == (user_id, {"previous_state": "submitted", "reason": None})
    decision = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "application.decided"))
    assert decision.details == {"decision": "rejected"}
    erased = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "account.erased"))
    assert (erased.actor_id, erased.subject_type, erased.subject_id) == (user_id, "user", user_id)
    assert erased.details == {"drafts_deleted": 0, "applications_anonymised": 1}


def test_erase_logs_out_and_account_cannot_log_in_again(app: Flask, applicant_client: FlaskClient) -> None:
    email = applicant_client.user.email
    response = erase(applicant_client)
    assert response.status_code == 302
    page = applicant_client.get("/").get_data(as_text=True)
    assert "Your account is erased." in page
    response = applicant_client.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    other = app.test_client()
    response = log_in(other, email)
    assert response.status_code == 400
    assert "That email and password do not match an account." in response.get_data(as_text=True)
    assert other.get("/dashboard").status_code == 302


def test_erase_ends_other_sessions(app: Flask, applicant_client: FlaskClient) -> None:
    second = app.test_client()
    assert log_in(second, applicant_client.user.email).status_code == 302
    assert erase(applicant_client).status_code == 302
    response = second.get("/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_erase_leaves_other_people_alone(app: Flask, applicant_client: FlaskClient, make_user) -> None:
    call = make_call()
    other = make_user(Role.APPLICANT)
    theirs = make_application(other, call, company_name="Theirs AS")
    make_attachment(theirs)
    make_application(applicant_client.user, call, company_name="Mine AS")
    assert erase(applicant_client).status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, theirs.id).company_name == "Theirs AS"
    assert db.session.get(User, other.id).active is True
    assert len(stored_files(app)) == 1


def test_erase_refused_for_last_administrator(admin_client: FlaskClient) -> None:
    response = erase(admin_client)
    assert response.status_code == 409
    assert ("This is the last administrator account; make someone else an administrator first."
            in response.get_data(as_text=True))
    assert reload(admin_client.user).active is True


def test_erase_of_administrator_allowed_when_another_remains(admin_client: FlaskClient, make_user) -> None:
    make_user(Role.ADMIN)
    assert erase(admin_client).status_code == 302
    assert reload(admin_client.user).name == "Erased account"


def test_erase_drops_unsent_mail_and_blanks_sent_mail_to_the_person(applicant_client: FlaskClient) -> None:
    from incubator.models import OutboundEmail

    address = applicant_client.user.email
    db.session.add_all([
        OutboundEmail(to_address=address, subject="Pending news", body_text="Dear Applicant", kind="k"),
        OutboundEmail(to_address=address, subject="Sent news", body_text="Dear Applicant", kind="k", status="sent"),
        OutboundEmail(to_address="someone.else@example.org", subject="Other", body_text="Hi", kind="k"),
    ])
    db.session.commit()
    assert erase(applicant_client).status_code == 302
    rows = db.session.execute(select(OutboundEmail.to_address, OutboundEmail.subject, OutboundEmail.body_text)
                              .order_by(OutboundEmail.id)).all()
    user_id = applicant_client.user.id
    assert [tuple(row) for row in rows] == [(f"erased-{user_id}@erased.invalid", "(erased)", "(erased)"),
                                            ("someone.else@example.org", "Other", "Hi")]
