"""Outbox delivery over SMTP, after the transaction that queued the email has committed.

Rows move pending -> sending -> sent. A temporary failure (connection refused, 4xx) puts the
row back to pending with a growing delay; a permanent one (5xx) marks it failed with the error
kept on the row. With no MAIL_SERVER configured (the local default) each email is written to
the log instead, so password reset links work on a laptop.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from flask import Flask, current_app
from sqlalchemy import select, update

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import OutboundEmail

log = logging.getLogger("incubator.mail")

MAX_ATTEMPTS = 8
BATCH_SIZE = 100
# A row left in 'sending' longer than this belonged to a deliverer that died mid-send.
STUCK_AFTER = dt.timedelta(minutes=10)


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


class PermanentDeliveryError(Exception):
    pass


class TemporaryDeliveryError(Exception):
    pass


def retry_delay(attempts: int) -> dt.timedelta:
    """1, 2, 4, 8 … minutes, capped at six hours."""
    return dt.timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def message_id(email: OutboundEmail, sender: str) -> str:
    """Stable per outbox row: a row sent twice (after a crash between the SMTP server's "250
    accepted" and our commit) carries the same Message-ID, so receivers can drop the copy."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    created = int(email.created_at.timestamp()) if email.created_at else 0
    return f"<outbox-{email.id}.{created}@{domain}>"


def build_message(email: OutboundEmail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id(email, sender)
    from incubator.services.notifications import NON_ESSENTIAL_KINDS
    from incubator.services.tokens import unsubscribe_url

    if email.kind in NON_ESSENTIAL_KINDS:
        # RFC 8058 one-click unsubscribe: mail clients POST "List-Unsubscribe=One-Click" there.
        message["List-Unsubscribe"] = f"<{unsubscribe_url(email.to_address)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(email.body_text)
    if email.body_html:
        message.add_alternative(email.body_html, subtype="html")
    return message


def _send_over_smtp(message: EmailMessage) -> None:
    config = current_app.config
    smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
    try:
        with smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]) as smtp:
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        detail = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace') if isinstance(exc.smtp_error, bytes) else exc.smtp_error}"
        if 500 <= exc.smtp_code < 600:
            raise PermanentDeliveryError(detail) from exc
        raise TemporaryDeliveryError(detail) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: {code} {msg!r}" for rcpt, (code, msg) in exc.recipients.items())
        if codes and all(500 <= code < 600 for code in codes):
            raise PermanentDeliveryError(detail) from exc
        raise TemporaryDeliveryError(detail) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc


def _write_to_log(message: EmailMessage) -> None:
    log.warning(
        "No MAIL_SERVER configured; email not sent but written here:\n%s", message.as_string()
    )


def _claim_due(now: dt.datetime, limit: int) -> list[OutboundEmail]:
    """Mark due rows as sending and return them; concurrent deliverers never share a row."""
    query = (
        select(OutboundEmail)
        .where(OutboundEmail.status == "pending", OutboundEmail.next_attempt_at <= now)
        .order_by(OutboundEmail.id)
        .limit(limit)
    )
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    claimed: list[OutboundEmail] = []
    for row in rows:
        # The guarded UPDATE is what makes the claim safe on SQLite, which has no row locks.
        result = db.session.execute(
            update(OutboundEmail)
            .where(OutboundEmail.id == row.id, OutboundEmail.status == "pending")
            .values(status="sending", sending_started_at=now, attempts=OutboundEmail.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            claimed.append(row)
    db.session.commit()
    for row in claimed:
        db.session.refresh(row)
    return claimed


def _renew_claim(email_id: int, lease: dt.datetime) -> bool:
    """Re-stamp a claimed row just before sending it; False if it is no longer ours.

    A batch is claimed at once, so the last rows of a slow batch wait in 'sending'. Renewing
    the claim per row keeps ``reset_stuck_deliveries`` (which looks at ``sending_started_at``)
    from handing a row that a live deliverer is about to send to somebody else.
    """
    result = db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id, OutboundEmail.status == "sending")
        .values(sending_started_at=lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def deliver_due(now: dt.datetime | None = None, limit: int = BATCH_SIZE) -> DeliveryReport:
    """Send what is due now. Safe to run in several processes at once."""
    now = now or utcnow()
    started = utcnow()
    report = DeliveryReport()
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    for email in _claim_due(now, limit):
        if not _renew_claim(email.id, now + (utcnow() - started)):
            continue
        db.session.refresh(email)
        message = build_message(email, sender)
        try:
            if current_app.config["MAIL_SERVER"]:
                _send_over_smtp(message)
            else:
                _write_to_log(message)
        except PermanentDeliveryError as exc:
            email.status, email.last_error = "failed", str(exc)
            report.failed.append(email.id)
        except TemporaryDeliveryError as exc:
            email.last_error = str(exc)
            if email.attempts >= MAX_ATTEMPTS:
                email.status = "failed"
                report.failed.append(email.id)
            else:
                email.status = "pending"
                email.next_attempt_at = max(now, utcnow()) + retry_delay(email.attempts)
                report.retrying.append(email.id)
        else:
            email.status, email.sent_at, email.last_error = "sent", utcnow(), None
            report.sent.append(email.id)
        # One commit per email: a crash after sending loses at most this row's bookkeeping,
        # and reset_stuck_deliveries sends that one row again (same Message-ID).
        db.session.commit()
    return report


def deliver_all_due(now: dt.datetime | None = None, max_batches: int = 50) -> DeliveryReport:
    """Batches of ``deliver_due`` until nothing due is left (or ``max_batches``)."""
    total = DeliveryReport()
    for _ in range(max_batches):
        report = deliver_due(now)
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        if not (report.sent or report.retrying or report.failed):
            break
    return total


def reset_stuck_deliveries(now: dt.datetime | None = None, stuck_after: dt.timedelta = STUCK_AFTER) -> int:
    """Put rows stuck in 'sending' (their deliverer died) back to pending; returns how many.

    At-least-once, not exactly-once: if the deliverer died after the SMTP server accepted the
    message but before it committed 'sent', that message goes out a second time, with the same
    Message-ID. Every other crash point (before or during the SMTP transaction) loses nothing
    and duplicates nothing. No protocol can close that last window without the receiver's help.
    """
    now = now or utcnow()
    result = db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.status == "sending", OutboundEmail.sending_started_at < now - stuck_after)
        .values(status="pending", next_attempt_at=now,
                last_error="Delivery interrupted (the sending process stopped); sent again.")
        .execution_options(synchronize_session=False)
    )
    db.session.flush()
    return int(result.rowcount or 0)


class BackgroundDeliverer:
    """A daemon thread in a web process that delivers the outbox soon after a commit.

    It is the one-process default (``OUTBOX_DELIVERY=thread``); deployments with a scheduler
    process set ``OUTBOX_DELIVERY=scheduler`` and let that process deliver instead.
    """

    def __init__(self, app: Flask, poll_seconds: float = 60.0) -> None:
        self._app = app
        self._wake = threading.Event()
        self._poll_seconds = poll_seconds
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="outbox-deliverer", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._poll_seconds)
            self._wake.clear()
            with self._app.app_context():
                try:
                    deliver_due()
                except Exception:  # keep the thread alive; the rows stay pending for later
                    log.exception("outbox delivery failed")
                    db.session.rollback()
                finally:
                    db.session.remove()
