"""Attachments: PDFs judged by their bytes, stored aside, downloadable only by who may see them."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Attachment, AuditEvent, Call, User
from incubator.services import attachments as service
from incubator.storage import file_storage
from tests.conftest import csrf_token
from tests.factories import TINY_PDF, make_application, make_attachment, make_call

OTHER_PDF = b"%PDF-1.7\n% a second document\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"
ELF_BINARY = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200 + b"This program cannot be run in DOS mode."


@pytest.fixture
def call(app: Flask) -> Call:
    return make_call()


@pytest.fixture
def draft(applicant_client: FlaskClient, call: Call) -> Application:
    return make_application(applicant_client.user, call)


def step_url(application_id: int) -> str:
    return f"/applications/{application_id}/steps/attachments"


def upload(client: FlaskClient, application_id: int, content: bytes, filename: str = "deck.pdf",
           kind: str = "pitch_deck", content_type: str = "application/pdf", token: str | None = None):
    data = {"csrf_token": token or csrf_token(client, "/password/change"), "kind": kind,
            "file": (io.BytesIO(content), filename, content_type)}
    return client.post(f"/applications/{application_id}/attachments", data=data,
                       content_type="multipart/form-data")


def delete(client: FlaskClient, application_id: int, attachment_id: int):
    return client.post(f"/applications/{application_id}/attachments/{attachment_id}/delete",
                       data={"csrf_token": csrf_token(client, "/password/change")})


def field_error(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error"[^>]*>(.*?)</div>', page, re.S)
    return match.group(1).strip() if match else ""


def attachments_of(application_id: int) -> list[Attachment]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(Attachment).where(Attachment.application_id == application_id).order_by(Attachment.id)))


def stored_files(app: Flask) -> list[Path]:
    root = Path(app.config["UPLOAD_FOLDER"])
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


# --- a good upload ----------------------------------------------------------------------------


def test_upload_pdf_stores_file_and_metadata(app: Flask, applicant_client: FlaskClient, draft: Application) -> None:
    response = upload(applicant_client, draft.id, TINY_PDF, filename="TumourTech deck.pdf")
    assert response.status_code == 302
    assert response.headers["Location"] == step_url(draft.id)
    [attachment] = attachments_of(draft.id)
    assert attachment.kind == "pitch_deck"
    assert attachment.original_filename == "TumourTech deck.pdf"
    assert attachment.size_bytes == len(TINY_PDF)
    assert attachment.sha256 == hashlib.sha256(TINY_PDF).hexdigest()
    assert file_storage().exists(attachment.storage_key)
    assert [path.read_bytes() for path in stored_files(app)] == [TINY_PDF]


def test_upload_pdf_is_listed_on_attachments_step(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="TumourTech deck.pdf")
    [attachment] = attachments_of(draft.id)
    page = applicant_client.get(step_url(draft.id)).get_data(as_text=True)
    assert "TumourTech deck.pdf" in page
    assert f'href="/applications/{draft.id}/attachments/{attachment.id}"' in page
    assert f'action="/applications/{draft.id}/attachments/{attachment.id}/delete"' in page
    assert 'enctype="multipart/form-data"' in page
    assert "PDF only, up to 20 MB." in page
    assert f'href="/applications/{draft.id}/steps/review"' in page


def test_upload_records_audit_event(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF)
    [attachment] = attachments_of(draft.id)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attachment.added"))
    assert (event.actor_id, event.subject_type, event.subject_id) == (applicant_client.user.id, "application", draft.id)
    assert event.details == {"attachment_id": attachment.id, "kind": "pitch_deck", "size_bytes": len(TINY_PDF),
                             "sha256": hashlib.sha256(TINY_PDF).hexdigest()}


def test_download_by_owner_returns_identical_pdf(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="deck.pdf")
    [attachment] = attachments_of(draft.id)
    response = applicant_client.get(f"/applications/{draft.id}/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.data == TINY_PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=deck.pdf"
    assert response.headers["Content-Security-Policy"] == "sandbox"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, no-store"


def test_download_by_manager_returns_identical_pdf(applicant_client: FlaskClient, manager_client: FlaskClient,
                                                   draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF)
    [attachment] = attachments_of(draft.id)
    response = manager_client.get(f"/applications/{draft.id}/attachments/{attachment.id}")
    assert response.status_code == 200
    assert response.data == TINY_PDF


def test_download_by_admin_returns_identical_pdf(applicant_client: FlaskClient, admin_client: FlaskClient,
                                                 draft: Application) -> None:
    attachment = make_attachment(draft)
    assert admin_client.get(f"/applications/{draft.id}/attachments/{attachment.id}").data == TINY_PDF


def test_download_by_reviewer_is_404(reviewer_client: FlaskClient, draft: Application) -> None:
    attachment = make_attachment(draft)
    assert reviewer_client.get(f"/applications/{draft.id}/attachments/{attachment.id}").status_code == 404


# --- refused uploads --------------------------------------------------------------------------


def test_upload_empty_file_is_refused(app: Flask, applicant_client: FlaskClient, draft: Application) -> None:
    response = upload(applicant_client, draft.id, b"")
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "file") == "The file is empty."
    assert attachments_of(draft.id) == []
    assert stored_files(app) == []


@pytest.mark.parametrize("content", [ELF_BINARY, WINDOWS_EXE], ids=["elf", "windows-exe"])
def test_upload_executable_named_pdf_is_refused(app: Flask, applicant_client: FlaskClient, draft: Application,
                                                content: bytes) -> None:
    response = upload(applicant_client, draft.id, content, filename="deck.pdf", content_type="application/pdf")
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "file") == (
        "The file is not a PDF. Export your document as PDF and upload that.")
    assert attachments_of(draft.id) == []
    assert stored_files(app) == []


def test_upload_truncated_pdf_is_refused(applicant_client: FlaskClient, draft: Application) -> None:
    response = upload(applicant_client, draft.id, TINY_PDF[:-7])
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "file") == (
        "The PDF is incomplete or damaged (no end-of-file marker). Export it again.")


def test_upload_over_limit_is_refused(app: Flask, applicant_client: FlaskClient, draft: Application) -> None:
    app.config["MAX_UPLOAD_BYTES"] = 1024 * 1024
    app.config["MAX_CONTENT_LENGTH"] = 10 * 1024 * 1024
    big = b"%PDF-1.4\n" + b"0" * (1536 * 1024 - 16) + b"\n%%EOF\n"
    assert len(big) == 1536 * 1024
    response = upload(applicant_client, draft.id, big)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert field_error(page, "file") == "The file is 1.5 MB; the limit is 1 MB."
    assert "PDF only, up to 1 MB." in page
    assert attachments_of(draft.id) == []
    assert stored_files(app) == []


def test_upload_exactly_at_limit_is_accepted(app: Flask, applicant_client: FlaskClient, draft: Application) -> None:
    app.config["MAX_UPLOAD_BYTES"] = 1024 * 1024
    exact = b"%PDF-1.4\n" + b"0" * (1024 * 1024 - 16) + b"\n%%EOF\n"
    assert upload(applicant_client, draft.id, exact).status_code == 302
    assert [a.size_bytes for a in attachments_of(draft.id)] == [1024 * 1024]


def test_upload_without_file_is_refused(applicant_client: FlaskClient, draft: Application) -> None:
    response = applicant_client.post(
        f"/applications/{draft.id}/attachments",
        data={"csrf_token": csrf_token(applicant_client, "/password/change"), "kind": "pitch_deck"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "file") == "Choose a PDF file to upload."
    assert attachments_of(draft.id) == []


def test_upload_with_unknown_kind_is_refused(applicant_client: FlaskClient, draft: Application) -> None:
    response = upload(applicant_client, draft.id, TINY_PDF, kind="cv")
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "kind") == "Not a valid choice."
    assert attachments_of(draft.id) == []


def test_upload_without_csrf_token_is_refused(applicant_client: FlaskClient, draft: Application) -> None:
    response = applicant_client.post(f"/applications/{draft.id}/attachments",
                                     data={"kind": "pitch_deck", "file": (io.BytesIO(TINY_PDF), "deck.pdf")},
                                     content_type="multipart/form-data")
    assert response.status_code == 400
    assert attachments_of(draft.id) == []


def test_refused_upload_keeps_saved_attachments(app: Flask, applicant_client: FlaskClient,
                                                draft: Application) -> None:
    assert upload(applicant_client, draft.id, TINY_PDF, filename="deck.pdf").status_code == 302
    response = upload(applicant_client, draft.id, ELF_BINARY, filename="new-deck.pdf")
    assert response.status_code == 400
    assert "deck.pdf" in response.get_data(as_text=True)
    assert [a.original_filename for a in attachments_of(draft.id)] == ["deck.pdf"]
    assert [path.read_bytes() for path in stored_files(app)] == [TINY_PDF]


def test_upload_to_submitted_application_is_refused(app: Flask, applicant_client: FlaskClient, call: Call) -> None:
    submitted = make_application(applicant_client.user, call, state="submitted", complete=True)
    files_before = stored_files(app)
    response = upload(applicant_client, submitted.id, OTHER_PDF, kind="other")
    assert response.status_code == 409
    assert "A submitted application can no longer be changed." in response.get_data(as_text=True)
    assert [a.original_filename for a in attachments_of(submitted.id)] == ["deck.pdf"]
    assert stored_files(app) == files_before


def test_upload_after_call_closed_is_refused(applicant_client: FlaskClient) -> None:
    now = utcnow()
    closed = make_call(opens_at=now - dt.timedelta(days=30), closes_at=now - dt.timedelta(minutes=1))
    application = make_application(applicant_client.user, closed)
    response = upload(applicant_client, application.id, TINY_PDF)
    assert response.status_code == 409
    assert "The call closed; applications can no longer be changed or submitted." in response.get_data(as_text=True)
    assert attachments_of(application.id) == []


def test_upload_eleventh_other_document_is_refused(applicant_client: FlaskClient, draft: Application) -> None:
    for number in range(10):
        make_attachment(draft, kind="other", filename=f"doc-{number}.pdf")
    response = upload(applicant_client, draft.id, OTHER_PDF, kind="other", filename="doc-10.pdf")
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "file") == (
        "An application can have at most 10 other documents; remove one before adding another.")
    assert len(attachments_of(draft.id)) == 10
    assert upload(applicant_client, draft.id, TINY_PDF, kind="pitch_deck").status_code == 302


# --- the pitch deck is one ----------------------------------------------------------------------


def test_upload_new_pitch_deck_replaces_old_one(app: Flask, applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="old-deck.pdf")
    upload(applicant_client, draft.id, OTHER_PDF, filename="appendix.pdf", kind="other")
    [old, appendix] = attachments_of(draft.id)
    old_id, old_key = old.id, old.storage_key
    response = upload(applicant_client, draft.id, OTHER_PDF + b"\n", filename="new-deck.pdf")
    assert response.status_code == 302
    attachments = attachments_of(draft.id)
    assert [(a.kind, a.original_filename) for a in attachments] == [("other", "appendix.pdf"),
                                                                    ("pitch_deck", "new-deck.pdf")]
    assert not file_storage().exists(old_key)
    assert sorted(path.read_bytes() for path in stored_files(app)) == sorted([OTHER_PDF, OTHER_PDF + b"\n"])
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "attachment.added")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.details["replaced_attachment_ids"] == [old_id]
    assert applicant_client.get(f"/applications/{draft.id}/attachments/{old_id}").status_code == 404


def test_replaced_pitch_deck_file_survives_rollback(app: Flask, applicant_client: FlaskClient,
                                                    draft: Application) -> None:
    old = make_attachment(draft, filename="old-deck.pdf")
    old_key = old.storage_key
    user = db.session.get(User, applicant_client.user.id)
    with app.test_request_context():
        new = service.add_attachment(draft, user, "pitch_deck", "new-deck.pdf", io.BytesIO(OTHER_PDF), utcnow())
        new_key = new.storage_key
        assert file_storage().exists(old_key) and file_storage().exists(new_key)
        db.session.rollback()  # e.g. a later step of the request failed
    assert file_storage().exists(old_key)
    assert not file_storage().exists(new_key)
    assert [(a.original_filename, a.storage_key) for a in attachments_of(draft.id)] == [("old-deck.pdf", old_key)]
    assert [path.read_bytes() for path in stored_files(app)] == [TINY_PDF]


# --- removing ---------------------------------------------------------------------------------


def test_delete_attachment_removes_row_and_file(app: Flask, applicant_client: FlaskClient, draft: Application) -> None:
    attachment = make_attachment(draft)
    attachment_id, key = attachment.id, attachment.storage_key
    response = delete(applicant_client, draft.id, attachment_id)
    assert response.status_code == 302
    assert response.headers["Location"] == step_url(draft.id)
    assert attachments_of(draft.id) == []
    assert not file_storage().exists(key)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "attachment.removed"))
    assert event.details == {"attachment_id": attachment_id, "kind": "pitch_deck"}


def test_delete_attachment_of_submitted_application_is_refused(app: Flask, applicant_client: FlaskClient,
                                                               call: Call) -> None:
    submitted = make_application(applicant_client.user, call, state="submitted", complete=True)
    [attachment] = attachments_of(submitted.id)
    response = delete(applicant_client, submitted.id, attachment.id)
    assert response.status_code == 409
    assert "A submitted application can no longer be changed." in response.get_data(as_text=True)
    assert [a.id for a in attachments_of(submitted.id)] == [attachment.id]
    assert file_storage().exists(attachment.storage_key)


# --- isolation --------------------------------------------------------------------------------


def test_upload_to_other_applicants_application_is_404(app: Flask, applicant_client: FlaskClient, call: Call,
                                                       make_user) -> None:
    theirs = make_application(make_user(Role.APPLICANT), call)
    assert upload(applicant_client, theirs.id, TINY_PDF).status_code == 404
    assert attachments_of(theirs.id) == []
    assert stored_files(app) == []


def test_upload_to_missing_application_is_404(applicant_client: FlaskClient) -> None:
    assert upload(applicant_client, 999_999, TINY_PDF).status_code == 404


def test_delete_other_applicants_attachment_is_404(applicant_client: FlaskClient, call: Call, make_user) -> None:
    theirs = make_application(make_user(Role.APPLICANT), call)
    attachment = make_attachment(theirs)
    assert delete(applicant_client, theirs.id, attachment.id).status_code == 404
    assert [a.id for a in attachments_of(theirs.id)] == [attachment.id]
    assert file_storage().exists(attachment.storage_key)


def test_download_other_applicants_attachment_is_404(applicant_client: FlaskClient, call: Call, make_user) -> None:
    theirs = make_application(make_user(Role.APPLICANT), call)
    attachment = make_attachment(theirs)
    response = applicant_client.get(f"/applications/{theirs.id}/attachments/{attachment.id}")
    assert response.status_code == 404
    assert TINY_PDF not in response.data


def test_download_attachment_through_another_application_is_404(applicant_client: FlaskClient, call: Call) -> None:
    mine = make_application(applicant_client.user, call)
    other_mine = make_application(applicant_client.user, make_call())
    attachment = make_attachment(mine)
    assert applicant_client.get(f"/applications/{other_mine.id}/attachments/{attachment.id}").status_code == 404
    assert applicant_client.get(f"/applications/{mine.id}/attachments/{attachment.id}").status_code == 200


def test_delete_attachment_through_another_application_is_404(applicant_client: FlaskClient, call: Call) -> None:
    mine = make_application(applicant_client.user, call)
    other_mine = make_application(applicant_client.user, make_call())
    attachment = make_attachment(mine)
    assert delete(applicant_client, other_mine.id, attachment.id).status_code == 404
    assert [a.id for a in attachments_of(mine.id)] == [attachment.id]


def test_download_missing_attachment_is_404(applicant_client: FlaskClient, draft: Application) -> None:
    assert applicant_client.get(f"/applications/{draft.id}/attachments/999999").status_code == 404


def test_download_when_logged_out_redirects_to_login(client: FlaskClient, draft: Application) -> None:
    attachment = make_attachment(draft)
    response = client.get(f"/applications/{draft.id}/attachments/{attachment.id}")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_upload_when_logged_out_redirects_to_login(app: Flask, draft: Application) -> None:
    client = app.test_client()
    response = upload(client, draft.id, TINY_PDF, token=csrf_token(client, "/login"))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert attachments_of(draft.id) == []


def test_upload_by_manager_to_applicants_application_is_404(manager_client: FlaskClient,
                                                            draft: Application) -> None:
    assert upload(manager_client, draft.id, TINY_PDF).status_code == 404
    assert attachments_of(draft.id) == []


# --- names are labels, never markup or paths ----------------------------------------------------


def test_upload_filename_with_html_is_shown_escaped(applicant_client: FlaskClient, draft: Application) -> None:
    name = "<script>alert('x')<img src=x onerror=alert(1)>.pdf"  # no "/": only the basename is kept
    assert upload(applicant_client, draft.id, TINY_PDF, filename=name).status_code == 302
    [attachment] = attachments_of(draft.id)
    assert attachment.original_filename == name
    page = applicant_client.get(step_url(draft.id)).get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;img src=x onerror=alert(1)&gt;.pdf" in page


def test_upload_filename_is_cleaned_for_display(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="Deck\u202egpj.pdf")
    [attachment] = attachments_of(draft.id)
    assert attachment.original_filename == "Deckgpj.pdf"


@pytest.mark.parametrize(("raw", "shown"), [
    ("deck.pdf", "deck.pdf"),
    ("C:\\fakepath\\deck.pdf", "deck.pdf"),
    ("Deck\r\nX-Injected: 1.pdf", "Deck X-Injected: 1.pdf"),
    ("  two   spaces .pdf ", "two spaces.pdf"),
    ("\\\\server\\share\\deck.pdf", "deck.pdf"),
    ("reports/2026/deck.pdf", "deck.pdf"),
    ("../../etc/passwd", "passwd.pdf"),
    ("x.html", "x.pdf"),
    ("evil\x00.html", "evil.pdf"),
    ("Deck.PDF", "Deck.pdf"),
    ("archive.tar.gz", "archive.tar.pdf"),
    ("no extension", "no extension.pdf"),
    (".htaccess", "document.pdf"),
    ("deck.pdf\x00.html", "deck.pdf.pdf"),
    ("", "document.pdf"),
    (None, "document.pdf"),
    ("\u200b\u202e", "document.pdf"),
])
def test_display_filename_cleans_name(raw: str | None, shown: str) -> None:
    assert service.display_filename(raw) == shown


def test_upload_long_filename_is_capped_keeping_extension(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="a" * 400 + ".pdf")
    [attachment] = attachments_of(draft.id)
    assert attachment.original_filename == "a" * 251 + ".pdf"


def test_polyglot_named_html_is_stored_and_served_as_pdf(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="x.html", content_type="text/html")
    [attachment] = attachments_of(draft.id)
    assert attachment.original_filename == "x.pdf"
    response = applicant_client.get(f"/applications/{draft.id}/attachments/{attachment.id}")
    assert response.headers["Content-Disposition"] == "attachment; filename=x.pdf"
    assert response.mimetype == "application/pdf"


def test_name_stored_before_cleaning_is_served_as_pdf(applicant_client: FlaskClient, draft: Application) -> None:
    attachment = make_attachment(draft, filename="old\rname.html")
    response = applicant_client.get(f"/applications/{draft.id}/attachments/{attachment.id}")
    assert response.headers["Content-Disposition"] == 'attachment; filename="old name.pdf"'


def test_download_name_with_non_ascii_characters(applicant_client: FlaskClient, draft: Application) -> None:
    upload(applicant_client, draft.id, TINY_PDF, filename="Søknad Ærø.pdf")
    [attachment] = attachments_of(draft.id)
    response = applicant_client.get(f"/applications/{draft.id}/attachments/{attachment.id}")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"Sknad r.pdf\"; filename*=UTF-8''S%C3%B8knad%20%C3%86r%C3%B8.pdf")


def test_attachment_count_is_unchanged_by_refusals(applicant_client: FlaskClient, draft: Application) -> None:
    for content in (b"", ELF_BINARY, TINY_PDF[:-7]):
        assert upload(applicant_client, draft.id, content).status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
