"""Attachments of an application: PDFs judged by their bytes, stored under random keys.

Files and rows live in two places that cannot share one transaction, so the order matters:

- a new file is written to storage *before* its row is flushed; if the transaction then rolls
  back, the file is removed again (``after_transaction_end`` below), so no orphan is kept;
- a replaced or removed file is deleted from storage only *after* the transaction that deletes
  its row has committed (``after_commit``). A rollback therefore never leaves a row pointing at
  a file that is gone; the worst case, a crash between commit and deletion, leaves an orphan
  file without a row, which is harmless and can be swept later.

Both lists live in the session's ``info`` and are handled by SQLAlchemy session events, so the
request's single commit in ``web/hooks.py`` drives them without knowing about files.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
import unicodedata
from dataclasses import dataclass
from tempfile import SpooledTemporaryFile
from typing import IO, Any, BinaryIO

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from incubator.domain.uploads import TRAILER_WINDOW, pdf_problem
from incubator.extensions import db
from incubator.models import Application, Attachment, User
from incubator.models.applications import ATTACHMENT_KINDS
from incubator.services import ServiceError
from incubator.services.applications import NotAllowed, can_view_application, ensure_editable
from incubator.services.audit import record_event
from incubator.services.membership import role_of
from incubator.storage import FileStorage, file_storage

log = logging.getLogger("incubator.attachments")

MAX_OTHER_DOCUMENTS = 10
MAX_FILENAME_LENGTH = 255
HEAD_BYTES = 1024
READ_CHUNK = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024  # larger uploads spill to a temporary file

_DELETE_AFTER_COMMIT = "files_to_delete_after_commit"
_DELETE_ON_ROLLBACK = "files_to_delete_on_rollback"


# --- files follow the transaction -----------------------------------------------------------


def delete_file_after_commit(key: str) -> None:
    """Remove the stored file once the current transaction has committed (never before)."""
    db.session.info.setdefault(_DELETE_AFTER_COMMIT, []).append((file_storage(), key))


def _forget_file_on_rollback(key: str) -> None:
    db.session.info.setdefault(_DELETE_ON_ROLLBACK, []).append((file_storage(), key))


def _delete_files(entries: list[tuple[FileStorage, str]]) -> None:
    for storage, key in entries:
        try:
            storage.delete(key)
        except Exception:  # a file left behind is an orphan, not a reason to fail the request
            log.exception("Could not delete stored file %s", key)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_DELETE_ON_ROLLBACK, None)  # the new files now belong to committed rows
    _delete_files(session.info.pop(_DELETE_AFTER_COMMIT, []))


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint; the outer transaction decides
        return
    # Reached after a commit too, but then both lists are already empty. Otherwise the
    # transaction rolled back: the deleted rows are back, so their files must stay, and the
    # files written for rows that never came to be are removed.
    session.info.pop(_DELETE_AFTER_COMMIT, None)
    _delete_files(session.info.pop(_DELETE_ON_ROLLBACK, []))


# --- reading and judging an upload ------------------------------------------------------------


@dataclass
class _Spooled:
    file: IO[bytes]
    size: int
    sha256: str
    head: bytes
    tail: bytes


def _spool(stream: BinaryIO, max_size: int) -> _Spooled:
    """Copy the stream aside while hashing it; stop one byte past ``max_size``."""
    spool: IO[bytes] = SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115  # closed by the caller
    digest = hashlib.sha256()
    size = 0
    head = b""
    tail = b""
    while size <= max_size:
        chunk = stream.read(min(READ_CHUNK, max_size + 1 - size))
        if not chunk:
            break
        size += len(chunk)
        digest.update(chunk)
        spool.write(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        tail = (tail + chunk)[-TRAILER_WINDOW:]
    if size > max_size:
        size = max(size, _total_size(stream))
    spool.seek(0)
    return _Spooled(spool, size, digest.hexdigest(), head, tail)


def _total_size(stream: BinaryIO) -> int:
    """The whole upload's size for the error message, when the stream can tell without reading."""
    try:
        return stream.seek(0, io.SEEK_END)
    except (AttributeError, OSError, ValueError):
        return 0


def display_filename(name: str | None) -> str:
    """The uploader's file name, kept only as a label: never used as a path.

    Only the last path segment is kept (browsers may send a full Windows or POSIX path); control
    characters, NULs and bidi overrides are dropped (they can break headers or disguise an
    extension); whitespace is collapsed; and the extension is always ``.pdf``, because the bytes
    were checked to be a PDF and a name like ``x.html`` would tell a browser or a desktop to
    open an HTML/PDF polyglot as a web page. At most 255 characters.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = "".join(" " if unicodedata.category(ch) == "Cc" else "" if unicodedata.category(ch)[0] == "C" else ch
                   for ch in name)
    name = re.split(r"[/\\]", name)[-1]
    name = " ".join(name.split())
    stem, dot, _suffix = name.rpartition(".")
    stem = (stem if dot else name).rstrip(" .")
    if not stem:
        return "document.pdf"
    return stem[: MAX_FILENAME_LENGTH - len(".pdf")] + ".pdf"


# --- state changes --------------------------------------------------------------------------


def _check_kind(kind: str) -> None:
    if kind not in ATTACHMENT_KINDS:
        raise ServiceError(_("Choose whether this is your pitch deck or another document."), field="kind")


def _check_room(application: Application, kind: str) -> None:
    if kind == "other":
        others = sum(1 for attachment in application.attachments if attachment.kind == "other")
        if others >= MAX_OTHER_DOCUMENTS:
            raise ServiceError(
                _("An application can have at most %(max)d other documents; remove one before adding another.",
                  max=MAX_OTHER_DOCUMENTS),
                field="file",
            )


def _lock_application(application: Application) -> None:
    """Serialise changes to one application's attachments (row lock on PostgreSQL; SQLite
    serialises writers anyway) and reload what another request may have changed meanwhile."""
    db.session.execute(
        select(Application)
        .where(Application.id == application.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    db.session.expire(application, ["attachments"])


def add_attachment(application: Application, user: User, kind: str, filename: str | None,
                   stream: BinaryIO, now: dt.datetime) -> Attachment:
    """Store an uploaded PDF with the draft. A new pitch deck replaces the previous one."""
    ensure_editable(application, user, now)
    _check_kind(kind)
    _check_room(application, kind)

    max_size = current_app.config["MAX_UPLOAD_BYTES"]
    spooled = _spool(stream, max_size)
    try:
        problem = pdf_problem(spooled.head, spooled.tail, spooled.size, max_size)
        if problem:
            raise ServiceError(problem, field="file")
        key = file_storage().save(spooled.file)
    finally:
        spooled.file.close()
    _forget_file_on_rollback(key)

    _lock_application(application)
    ensure_editable(application, user, now)  # it may have been submitted while we read the file
    _check_room(application, kind)

    replaced: list[int] = []
    if kind == "pitch_deck":
        for old in [a for a in application.attachments if a.kind == "pitch_deck"]:
            replaced.append(old.id)
            application.attachments.remove(old)  # delete-orphan: the row goes at flush
            delete_file_after_commit(old.storage_key)
        # The unit of work inserts before it deletes; flush the removal first so the new deck
        # never meets the old one under the one-pitch-deck unique index.
        db.session.flush()

    attachment = Attachment(
        kind=kind,
        original_filename=display_filename(filename),
        storage_key=key,
        size_bytes=spooled.size,
        sha256=spooled.sha256,
        uploaded_at=now,
    )
    application.attachments.append(attachment)
    application.updated_at = now
    db.session.flush()
    details: dict[str, Any] = {"attachment_id": attachment.id, "kind": kind, "size_bytes": spooled.size,
                               "sha256": spooled.sha256}
    if replaced:
        details["replaced_attachment_ids"] = replaced
    record_event(user, "attachment.added", "application", application.id, **details)
    return attachment


def remove_attachment(application: Application, user: User, attachment: Attachment,
                      now: dt.datetime) -> None:
    ensure_editable(application, user, now)
    if attachment.application_id != application.id:
        raise NotAllowed(_("This document does not belong to this application."))
    attachment_id, kind = attachment.id, attachment.kind
    application.attachments.remove(attachment)
    delete_file_after_commit(attachment.storage_key)
    application.updated_at = now
    db.session.flush()
    record_event(user, "attachment.removed", "application", application.id,
                 attachment_id=attachment_id, kind=kind)


def can_download_attachment(user: User, attachment: Attachment) -> bool:
    """Whoever may see the application; assigned reviewers arrive with the review module."""
    return can_view_application(user, attachment.application)


def record_download(user: User, attachment: Attachment) -> None:
    """Staff opening an applicant's document is logged; the team fetching its own is not."""
    if role_of(user, attachment.application) is None:
        record_event(user, "attachment.downloaded", "application", attachment.application_id,
                     attachment_id=attachment.id, kind=attachment.kind)


def find_attachment(application: Application, attachment_id: int) -> Attachment | None:
    """The attachment with this id if it belongs to this application, else None."""
    return db.session.scalar(
        select(Attachment).where(Attachment.id == attachment_id, Attachment.application_id == application.id)
    )
