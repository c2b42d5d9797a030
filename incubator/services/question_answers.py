"""An applicant saves the answers to a call's own questions, PDF uploads included.

Kept apart from services.questions (the rules, which services.applications asks what is
missing) because uploads go through services.attachments, which itself builds on
services.applications.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, BinaryIO

from incubator.domain.questions import Variant
from incubator.extensions import db
from incubator.models import Application, User
from incubator.services import ServiceError
from incubator.services import attachments as documents
from incubator.services.applications import ensure_editable
from incubator.services.audit import record_event
from incubator.services.questions import AnswersInvalid, answers_by_question, store_answers


def save_question_answers(application: Application, user: User, raw: Mapping[int, Any],
                          uploads: Mapping[int, tuple[str | None, BinaryIO]], now: dt.datetime) -> None:
    """The draft's answers, checked like any step's. A PDF question's upload is stored like the
    application's other documents (same checks, same storage) and replaces the one it answered
    before; without an upload, the PDF already given stays."""
    ensure_editable(application, user, now)
    values = dict(raw)
    saved = answers_by_question(application)
    problems: dict[int, str] = {}
    for question in application.call.questions:
        if question.variant != Variant.PDF_UPLOAD.value:
            continue
        previous = saved.get(question.id)
        upload = uploads.get(question.id)
        if upload is None:
            values[question.id] = str(previous.attachment_id) if previous and previous.attachment_id else None
            continue
        try:
            attachment = documents.add_attachment(application, user, "other", upload[0], upload[1], now)
        except ServiceError as error:
            problems[question.id] = error.message
            continue
        if previous is not None and previous.attachment is not None:
            documents.remove_attachment(application, user, previous.attachment, now)
        values[question.id] = str(attachment.id)
    if problems:
        raise AnswersInvalid(problems)
    store_answers(application, values, now)
    application.updated_at = now
    db.session.flush()
    record_event(user, "application.step_saved", "application", application.id, step="questions")
