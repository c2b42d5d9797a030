"""Outbox delivery against a real SMTP server (aiosmtpd on localhost)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from flask import Flask
from sqlalchemy import select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.mail import deliver_due
from incubator.models import OutboundEmail
from incubator.services.notifications import queue_email


def use_smtp(app: Flask, smtp_server) -> None:
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)


def queue(subject: str = "Velkommen til OCC – søknad mottatt", to: str = "founder@example.no") -> OutboundEmail:
    """Queue a real template's email and commit, as a request would."""
    invitee = SimpleNamespace(name="Åse", role="reviewer")
    email = queue_email(to, subject, "invitation", kind="test", user=invitee,
                        inviter=SimpleNamespace(name="Admin"), link="http://localhost/x", valid_days=7)
    db.session.commit()
    return email


def test_queued_email_arrives_once_over_smtp(app: Flask, smtp_server) -> None:
    use_smtp(app, smtp_server)
    with app.test_request_context():
        email = queue()
    report = deliver_due()
    assert report.sent == [email.id]
    smtp_server.wait_for(1)
    message = smtp_server.messages[0]
    assert message["Subject"] == "Velkommen til OCC – søknad mottatt"
    assert "Åse" in message.get_content()
    assert deliver_due().sent == []  # nothing is sent twice
    assert len(smtp_server.messages) == 1
    db.session.refresh(email)
    assert email.status == "sent" and email.attempts == 1 and email.sent_at is not None


def test_email_is_not_sent_when_its_transaction_rolls_back(app: Flask, smtp_server) -> None:
    use_smtp(app, smtp_server)
    with app.test_request_context():
        queue_email("x@example.no", "Never", "invitation", kind="test",
                    user=SimpleNamespace(name="A", role="reviewer"), inviter=SimpleNamespace(name="B"),
                    link="l", valid_days=1)
    db.session.rollback()
    assert deliver_due().sent == []
    assert smtp_server.messages == []


def test_temporary_smtp_failure_keeps_email_pending_with_backoff(app: Flask, smtp_server) -> None:
    use_smtp(app, smtp_server)
    with app.test_request_context():
        email = queue()
    smtp_server.fail_with(451, "Try again later")
    report = deliver_due()
    assert report.retrying == [email.id]
    db.session.refresh(email)
    assert email.status == "pending" and "451" in email.last_error and email.next_attempt_at > utcnow()
    smtp_server.recover()
    assert deliver_due().sent == []  # not due yet
    report = deliver_due(now=email.next_attempt_at)
    assert report.sent == [email.id]
    smtp_server.wait_for(1)


def test_permanent_smtp_failure_marks_email_failed_with_the_error(app: Flask, smtp_server) -> None:
    use_smtp(app, smtp_server)
    with app.test_request_context():
        email = queue()
    smtp_server.fail_with(550, "No such user")
    assert deliver_due().failed == [email.id]
    db.session.refresh(email)
    assert email.status == "failed" and "550" in email.last_error


def test_unreachable_smtp_server_is_a_temporary_failure(app: Flask) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1, MAIL_TIMEOUT=2)
    with app.test_request_context():
        email = queue()
    assert deliver_due().retrying == [email.id]


def test_without_mail_server_email_is_written_to_the_log(app: Flask, caplog) -> None:
    with app.test_request_context():
        email = queue(subject="Reset your password")
    with caplog.at_level(logging.WARNING, logger="incubator.mail"):
        assert deliver_due().sent == [email.id]
    assert "Reset your password" in caplog.text


def test_dedupe_key_is_unique_in_the_database(app: Flask) -> None:
    from sqlalchemy.exc import IntegrityError

    for _ in range(2):
        db.session.add(OutboundEmail(to_address="a@b.no", subject="s", body_text="b", kind="k", dedupe_key="reminder:1"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    assert db.session.scalar(select(db.func.count()).select_from(OutboundEmail)) == 0
