"""A person's right to their data: a copy of everything we hold, and erasure.

Erasure keeps what the programme needs for statistics and for the decision audit trail
(call, state, country, focus, stage, funding, size, dates) and removes what identifies or
describes the person or their company: drafts go entirely, other applications lose their
free text and documents, and the account keeps only its id and role.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from werkzeug.utils import secure_filename

from incubator.domain.applications import ApplicationState
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, AuditEvent, OutboundEmail, User
from incubator.services import ServiceError
from incubator.services.applications import application_values
from incubator.services.attachments import delete_file_after_commit
from incubator.services.audit import record_event
from incubator.services.membership import applications_of as team_applications
from incubator.services.membership import hand_over, handover_problem, leave, role_of
from incubator.services.passwords import verify_password
from incubator.services.questions import answered_questions, erase_answers
from incubator.services.sessions import end_all_sessions
from incubator.services.visibility import applicant_history, applicant_view
from incubator.storage import file_storage

ERASED_NAME = "Erased account"

# Personal or free-text answers, blanked when an application is anonymised.
ANONYMISED_FIELDS = ("company_name", "org_number", "website", "team", "project_summary", "unmet_need",
                     "space_needs", "withdrawal_reason")
# Free text that earlier events copied into the audit trail; redacted with the answers.
AUDIT_FREE_TEXT = ("reason",)

ACCOUNT_FIELDS = ("id", "email", "name", "role", "affiliation", "active", "created_at", "last_login_at",
                  "password_changed_at")


class UnderReview(ServiceError):
    """Erasure refused because a committee is looking at one of the person's applications."""


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot export {type(value).__name__}")


def _dumps(data: Any) -> bytes:
    return json.dumps(data, default=_json_default, ensure_ascii=False, indent=2).encode()


def _applications_of(user: User) -> list[Application]:
    """The applications the person owns (what erasure deletes or anonymises)."""
    return list(db.session.scalars(
        select(Application).where(Application.applicant_id == user.id).order_by(Application.id)
    ))


def _team_applications_of(user: User) -> list[Application]:
    """Owned and joined applications: the export holds everything the person worked on."""
    return sorted(team_applications(user), key=lambda application: application.id)


def _leave_teams(user: User) -> None:
    """Before erasure: owned applications with a team pass to an editor (or the erasure is
    refused, with the reason), and the person leaves the teams they joined."""
    for application in _applications_of(user):
        hand_over(user, application)
    for application in team_applications(user):
        if role_of(user, application) != "owner":
            leave(user, application)


def _history(application: Application) -> list[dict[str, Any]]:
    history = []
    for event in applicant_history(application):
        entry: dict[str, Any] = {"at": event.at, "action": event.action, "by": "you" if event.own else "staff"}
        if event.own:
            entry["details"] = event.details
            entry["ip_address"] = event.ip_address
        history.append(entry)
    return history


# Committee bookkeeping on the application row: never exported (who decided is staff data,
# whether comments are shared is the committee's choice, and how many reviewers it has is the
# board's working count); the decision itself comes from the applicant's view, so before
# release it reads "under review" with no message or time.
COMMITTEE_FIELDS = ("decided_by_id", "share_reviewer_comments", "assignment_count")


def _exported_values(application: Application) -> dict[str, Any]:
    values = application_values(application)
    values.pop("pitch_deck", None)
    for field in COMMITTEE_FIELDS:
        values.pop(field, None)
    view = applicant_view(application)
    values.update(state=view.state, decision_message=view.decision_message, decided_at=view.decided_at,
                  decision_released_at=view.decision_released_at)
    return values


def attachment_export_path(application: Application, attachment_id: int, original_filename: str) -> str:
    stem = original_filename[:-4] if original_filename.lower().endswith(".pdf") else original_filename
    safe = secure_filename(stem)[:100] or "document"
    return f"attachments/{application.id}/{attachment_id}-{safe}.pdf"


def export_personal_data(user: User) -> bytes:
    """A zip of the account, every application with its answers and history, and the files;
    the export itself is recorded in the audit trail."""
    storage = file_storage()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        account = {field: getattr(user, field) for field in ACCOUNT_FIELDS}
        archive.writestr("account.json", _dumps(account))

        exported = []
        for application in _team_applications_of(user):
            values = _exported_values(application)
            values["your_role"] = role_of(user, application)
            values["call"] = {"id": application.call_id, "title": application.call.title}
            values["preferences"] = [
                {"rank": pref.rank, "programme": pref.programme.name} for pref in application.preferences
            ]
            values["questions"] = [{"question": question.label, "answer": text}
                                   for question, text in answered_questions(application)]
            values["history"] = _history(application)
            documents = []
            for attachment in application.attachments:
                path = attachment_export_path(application, attachment.id, attachment.original_filename)
                if storage.exists(attachment.storage_key):
                    with storage.open(attachment.storage_key) as handle, archive.open(path, "w") as target:
                        while chunk := handle.read(1024 * 1024):
                            target.write(chunk)
                else:
                    path = None  # noted rather than hidden: the file is missing from storage
                documents.append({
                    "id": attachment.id,
                    "kind": attachment.kind,
                    "original_filename": attachment.original_filename,
                    "size_bytes": attachment.size_bytes,
                    "sha256": attachment.sha256,
                    "uploaded_at": attachment.uploaded_at,
                    "file_in_export": path,
                })
            values["attachments"] = documents
            exported.append(values)
        archive.writestr("applications.json", _dumps(exported))
    # A copy of personal data left the service: who took it, when, from where.
    record_event(user, "account.data_exported", "user", user.id, applications=len(exported))
    return buffer.getvalue()


def _label(application: Application) -> str:
    return f'"{application.company_name}"' if application.company_name else f"for {application.call.title}"


def erase_account(user: User, password: str, now: dt.datetime) -> None:
    """Erase the person's data, keeping anonymised statistics and the decision audit trail."""
    if not verify_password(user.password_hash, password):
        raise ServiceError(_("Your password is not correct."), field="password")
    if user.role == Role.ADMIN.value and _other_active_admins(user) == 0:
        raise ServiceError(_("This is the last administrator account; make someone else an administrator first."))
    for application in _applications_of(user):  # refuse before changing anything
        problem = handover_problem(application)
        if problem:
            raise ServiceError(problem)
        if not application.members and applicant_view(application).in_review:  # an unreleased decision is still "in review"
            raise UnderReview(
                f"Your application {_label(application)} is under review; "
                "withdraw it first or wait for the decision."
            )

    _leave_teams(user)
    deleted = anonymised = 0
    for application in _applications_of(user):
        if application.state == ApplicationState.DRAFT.value:
            erase_answers(application)  # explicit: SQLite does not cascade foreign keys
            for attachment in list(application.attachments):
                delete_file_after_commit(attachment.storage_key)
            db.session.delete(application)  # preferences and attachments go with it
            deleted += 1
            continue
        anonymise_application(application, now)
        anonymised += 1

    _erase_emails_to(user.email, f"erased-{user.id}@erased.invalid")
    user.email = f"erased-{user.id}@erased.invalid"
    user.name = ERASED_NAME
    user.password_hash = None
    user.active = False
    end_all_sessions(user)
    user.affiliation = None
    db.session.flush()
    record_event(user, "account.erased", "user", user.id, drafts_deleted=deleted,
                 applications_anonymised=anonymised)


def anonymise_application(application: Application, now: dt.datetime) -> None:
    """Keep what statistics and the decision record need; drop the answers, documents and the
    free text copied into the audit trail (files go once the transaction has committed)."""
    erase_answers(application)  # answers to the call's own questions are the applicant's words
    for attachment in list(application.attachments):
        delete_file_after_commit(attachment.storage_key)
    application.attachments.clear()
    for field in ANONYMISED_FIELDS:
        setattr(application, field, None)
    application.anonymised_at = now
    application.updated_at = now
    _redact_audit_free_text(application)


def _erase_emails_to(address: str, erased_address: str) -> None:
    """Unsent mail to the person is dropped; the record of sent mail keeps no personal data."""
    db.session.execute(
        delete(OutboundEmail).where(OutboundEmail.to_address == address, OutboundEmail.status == "pending")
    )
    db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.to_address == address)
        .values(to_address=erased_address, subject="(erased)", body_text="(erased)", body_html=None)
    )


def _other_active_admins(user: User) -> int:
    return db.session.scalar(
        select(func.count()).select_from(User)
        .where(User.role == Role.ADMIN.value, User.active.is_(True), User.id != user.id)
    ) or 0


def _redact_audit_free_text(application: Application) -> None:
    """Events keep their action, actor and time; free text the applicant typed is removed."""
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.subject_type == "application",
                                 AuditEvent.subject_id == application.id)
    )
    for event in events:
        details = dict(event.details or {})
        if any(details.get(key) for key in AUDIT_FREE_TEXT):
            for key in AUDIT_FREE_TEXT:
                if details.get(key):
                    details[key] = None
            event.details = details  # a new dict, so the JSON column is seen as changed
