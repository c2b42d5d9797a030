"""Following a resident through the stay: support received, OCC membership, quarterly check-ins
and the end-of-residency report. Managers only; every change is audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from incubator.domain.check_ins import check_in_dates
from incubator.domain.follow_up import (
    CURRENCIES,
    MAX_AMOUNT,
    MAX_JOBS,
    MAX_TEXT,
    SUPPORT_PROGRAMMES,
    SUPPORT_STATES,
)
from incubator.extensions import db
from incubator.models import Residency, ResidencyCheckIn, ResidencyReport, ResidencySupport, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.rows import dialect_insert, get_or_create
from incubator.services.slots import ensure_manager

MAX_SUPPORTS = 50  # per residency: a page lists them all, so they are bounded


# ---------------------------------------------------------------------------- membership


def set_occ_membership(manager: User, residency: Residency, member_since: dt.date | None, now: dt.datetime) -> None:
    ensure_manager(manager)
    if member_since is not None and member_since > now.date():
        raise ServiceError(_("The membership date cannot be in the future."), field="member_since")
    residency.occ_member_since, residency.updated_at = member_since, now
    db.session.flush()
    record_event(manager, "residency.occ_membership", "residency", residency.id,
                 member_since=member_since.isoformat() if member_since else None)


# ---------------------------------------------------------------------------- support


@dataclass(frozen=True)
class SupportData:
    programme: str
    programme_name: str
    status: str
    amount: int | None
    currency: str
    applied_on: dt.date | None
    decided_on: dt.date | None


def _check_amount(amount: int | None, currency: str, field: str) -> None:
    if amount is not None and not 0 <= amount <= MAX_AMOUNT:
        raise ServiceError(_("Give a whole amount from 0 to 100,000,000,000."), field=field)
    if currency not in CURRENCIES:
        raise ServiceError(_("Choose a currency from the list."), field="currency")


def _check_support(data: SupportData) -> None:
    if data.programme not in SUPPORT_PROGRAMMES:
        raise ServiceError(_("Choose a programme from the list."), field="programme")
    if data.programme == "other" and not data.programme_name.strip():
        raise ServiceError(_("Name the other programme."), field="programme_name")
    if data.status not in SUPPORT_STATES:
        raise ServiceError(_("Choose a status from the list."), field="status")
    _check_amount(data.amount, data.currency, "amount")
    if data.applied_on and data.decided_on and data.decided_on < data.applied_on:
        raise ServiceError(_("The decision cannot come before the application."), field="decided_on")
    if data.status == "applied" and data.decided_on is not None:
        raise ServiceError(_("Give a decision date only once the support is granted or declined."),
                           field="decided_on")


def supports_of(residency: Residency) -> list[ResidencySupport]:
    return list(db.session.scalars(select(ResidencySupport).where(ResidencySupport.residency_id == residency.id)
                                   .order_by(ResidencySupport.id).limit(MAX_SUPPORTS)))


def add_support(manager: User, residency: Residency, data: SupportData, now: dt.datetime) -> ResidencySupport:
    ensure_manager(manager)
    _check_support(data)
    if len(supports_of(residency)) >= MAX_SUPPORTS:
        raise ServiceError(_("This residency already has %(max)d support entries.", max=MAX_SUPPORTS))
    support = ResidencySupport(
        residency_id=residency.id, programme=data.programme,
        programme_name=data.programme_name.strip() or None if data.programme == "other" else None,
        status=data.status, amount=data.amount, currency=data.currency, applied_on=data.applied_on,
        decided_on=data.decided_on, created_at=now, created_by_id=manager.id, updated_at=now)
    db.session.add(support)
    db.session.flush()
    record_event(manager, "residency.support_added", "residency", residency.id, support=support.id,
                 programme=data.programme, status=data.status)
    return support


def update_support_status(manager: User, residency: Residency, support_id: int, status: str,
                          decided_on: dt.date | None, now: dt.datetime) -> ResidencySupport:
    """The answer came: granted or declined on ``decided_on`` (or back to applied)."""
    ensure_manager(manager)
    support = db.session.get(ResidencySupport, support_id)
    if support is None or support.residency_id != residency.id:
        raise ServiceError(_("No such support entry for this residency."), field="support_id")
    _check_support(SupportData(support.programme, support.programme_name or "", status, support.amount,
                               support.currency, support.applied_on, decided_on))
    support.status, support.decided_on, support.updated_at = status, decided_on, now
    db.session.flush()
    record_event(manager, "residency.support_status", "residency", residency.id, support=support.id, status=status)
    return support


# ---------------------------------------------------------------------------- check-ins


@dataclass(frozen=True)
class ScheduledCheckIn:
    due_on: dt.date
    record: ResidencyCheckIn | None  # None until a manager records it


def check_in_schedule(residency: Residency) -> list[ScheduledCheckIn]:
    """The residency's check-ins, every three months from its start, with those recorded."""
    recorded = {row.due_on: row for row in db.session.scalars(
        select(ResidencyCheckIn).where(ResidencyCheckIn.residency_id == residency.id))}
    dates = check_in_dates(residency.starts_on, residency.ends_on)
    # A check-in recorded before the stay was shortened stays on the record.
    return [ScheduledCheckIn(day, recorded.get(day)) for day in sorted(set(dates) | set(recorded))]


def record_check_in(manager: User, residency: Residency, due_on: dt.date, notes: str, milestones: str,
                    now: dt.datetime) -> ResidencyCheckIn:
    """Record (or correct) the check-in due on ``due_on``."""
    ensure_manager(manager)
    if due_on not in check_in_dates(residency.starts_on, residency.ends_on):
        raise ServiceError(_("Choose a check-in date from the residency's schedule."), field="due_on")
    if due_on - dt.timedelta(days=31) > now.date():
        raise ServiceError(_("This check-in is more than a month away; record it closer to its date."),
                           field="due_on")
    if not notes.strip():
        raise ServiceError(_("Write a few notes from the check-in."), field="notes")
    if len(notes) > MAX_TEXT or len(milestones) > MAX_TEXT:
        raise ServiceError(_("Keep notes and milestones under %(max)d characters each.", max=MAX_TEXT), field="notes")
    row = _check_in_row(residency.id, due_on, now)
    row.notes, row.milestones, row.done_at, row.done_by_id = notes.strip(), milestones.strip(), now, manager.id
    db.session.flush()
    record_event(manager, "residency.check_in", "residency", residency.id, due_on=due_on.isoformat())
    return row


def _check_in_row(residency_id: int, due_on: dt.date, now: dt.datetime) -> ResidencyCheckIn:
    """The check-in's row, inserted if missing; two managers recording it at once get one row."""
    def find() -> ResidencyCheckIn | None:
        return db.session.scalar(select(ResidencyCheckIn).where(ResidencyCheckIn.residency_id == residency_id,
                                                                ResidencyCheckIn.due_on == due_on))

    row = find()
    if row is None:
        db.session.execute(dialect_insert(ResidencyCheckIn).values(residency_id=residency_id, due_on=due_on, done_at=now)
                           .on_conflict_do_nothing(index_elements=["residency_id", "due_on"]))
        row = find()
    assert row is not None  # inserted now, or by whoever won the race
    return row


# ---------------------------------------------------------------------------- end report


@dataclass(frozen=True)
class ReportData:
    outcomes: str
    jobs_created: int | None
    funding_raised: int | None
    funding_currency: str


def report_of(residency: Residency) -> ResidencyReport | None:
    return db.session.get(ResidencyReport, residency.id)


def save_report(manager: User, residency: Residency, data: ReportData, now: dt.datetime) -> ResidencyReport:
    """The end-of-residency report; saved again, it replaces the previous version."""
    ensure_manager(manager)
    if not data.outcomes.strip():
        raise ServiceError(_("Describe the outcomes of the residency."), field="outcomes")
    if len(data.outcomes) > MAX_TEXT:
        raise ServiceError(_("Keep the outcomes under %(max)d characters.", max=MAX_TEXT), field="outcomes")
    if data.jobs_created is not None and not 0 <= data.jobs_created <= MAX_JOBS:
        raise ServiceError(_("Give a number of jobs from 0 to 100,000."), field="jobs_created")
    _check_amount(data.funding_raised, data.funding_currency, "funding_raised")
    report = get_or_create(ResidencyReport, residency_id=residency.id)
    report.outcomes, report.jobs_created = data.outcomes.strip(), data.jobs_created
    report.funding_raised, report.funding_currency = data.funding_raised, data.funding_currency
    report.saved_at, report.saved_by_id = now, manager.id
    db.session.flush()
    record_event(manager, "residency.report_saved", "residency", residency.id)
    return report
