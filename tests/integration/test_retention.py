"""Rejected and withdrawn applications are anonymised after RETENTION_YEARS; dry-run changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, AuditEvent
from incubator.scheduler import anonymise_expired_applications
from incubator.services.retention import retention_cutoff
from incubator.storage import file_storage
from tests.factories import make_application, make_call

DAY = dt.timedelta(days=1)


@pytest.fixture
def applications(make_user) -> dict[str, int]:
    """One application per case, keyed by what the retention job should do with it."""
    now, applicant = utcnow(), make_user(Role.APPLICANT)
    old, recent = retention_cutoff(now, 3) - DAY, retention_cutoff(now, 3) + DAY
    cases = {
        "rejected_long_ago": dict(state="rejected", decided_at=old, decision_released_at=old),
        "withdrawn_long_ago": dict(state="withdrawn", withdrawn_at=old, withdrawal_reason="We moved to Basel"),
        "rejected_recently": dict(state="rejected", decided_at=recent, decision_released_at=recent),
        "withdrawn_recently": dict(state="withdrawn", withdrawn_at=recent),
        "rejected_unreleased": dict(state="rejected", decided_at=old),
        "accepted_long_ago": dict(state="accepted", decided_at=old, decision_released_at=old),
        "already_anonymised": dict(state="rejected", decided_at=old, decision_released_at=old, anonymised_at=old),
    }
    ids = {}
    for name, fields in cases.items():
        application = make_application(applicant, make_call(), complete=True, **fields)
        ids[name] = application.id
    withdrawn = ids["withdrawn_long_ago"]
    db.session.add(AuditEvent(actor_id=applicant.id, action="application.withdrawn", subject_type="application",
                              subject_id=withdrawn, details={"reason": "We moved to Basel"}))
    db.session.commit()
    return ids


def state_of_everything() -> list[tuple]:
    db.session.expire_all()
    rows = db.session.scalars(select(Application).order_by(Application.id)).all()
    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    return ([(a.id, a.company_name, a.anonymised_at, len(a.attachments)) for a in rows]
            + [(e.id, e.action, e.details) for e in events])


def test_dry_run_lists_what_is_due_and_changes_nothing(app: Flask, applications: dict[str, int]) -> None:
    before = state_of_everything()
    result = app.test_cli_runner().invoke(args=["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    listed = [int(line.split("\t")[0]) for line in result.output.splitlines() if "\t" in line]
    assert listed == sorted([applications["rejected_long_ago"], applications["withdrawn_long_ago"]])
    assert "2 applications would be anonymised" in result.output
    assert state_of_everything() == before


def test_run_anonymises_only_what_is_due_logs_it_and_is_idempotent(app: Flask, applications: dict[str, int]) -> None:
    due = {applications["rejected_long_ago"], applications["withdrawn_long_ago"]}
    keys = {row.id: [a.storage_key for a in row.attachments]
            for row in db.session.scalars(select(Application))}
    result = app.test_cli_runner().invoke(args=["retention", "run"])
    assert result.exit_code == 0, result.output
    assert "2 applications anonymised" in result.output

    db.session.expire_all()
    for application in db.session.scalars(select(Application)):
        if application.id in due:
            assert application.company_name is None and application.team is None and application.anonymised_at
            assert application.attachments == []
            assert not any(file_storage().exists(key) for key in keys[application.id])
            assert application.country == "NO" and application.state in {"rejected", "withdrawn"}  # statistics stay
        elif application.anonymised_at is None:
            assert application.company_name == "TumourTech AS" and len(application.attachments) == 1
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "application.anonymised")).all()
    assert {event.subject_id for event in events} == due
    assert all(event.details["rule"] == "retention" and event.actor_id is None for event in events)
    withdrawal = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "application.withdrawn"))
    assert withdrawal.details["reason"] is None  # free text copied into the audit trail is redacted too

    after = state_of_everything()
    assert anonymise_expired_applications() == []  # the scheduler's job: nothing left to do
    assert state_of_everything() == after


def test_retention_years_is_configurable(app: Flask, applications: dict[str, int]) -> None:
    app.config["RETENTION_YEARS"] = 10
    assert anonymise_expired_applications() == []
    app.config["RETENTION_YEARS"] = 1
    done = {candidate.application_id for candidate in anonymise_expired_applications()}
    assert done == {applications["rejected_long_ago"], applications["withdrawn_long_ago"],
                    applications["rejected_recently"], applications["withdrawn_recently"]}


def test_cutoff_counts_calendar_years() -> None:
    assert retention_cutoff(dt.datetime(2028, 2, 29, 12, tzinfo=dt.UTC), 3) == dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)
    assert retention_cutoff(dt.datetime(2027, 6, 1, tzinfo=dt.UTC), 3) == dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        retention_cutoff(dt.datetime(2027, 6, 1, tzinfo=dt.UTC), 0)
