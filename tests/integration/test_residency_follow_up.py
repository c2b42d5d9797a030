"""Residents followed through their stay (issue 12 item 5): the check-in schedule, support,
membership and end report, and check-in reminders to managers exactly once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from incubator.domain import check_ins
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import OutboundEmail, ProgrammeScope, Residency, ResidencyCheckIn, User
from incubator.models.reminders import SentReminder
from incubator.services import ServiceError, preferences, reminders
from incubator.services import residency_follow_up as follow_up
from tests.factories import make_call
from tests.integration.test_residencies_service import decided, make_slot
from tests.support.statements import statements_sent

OSLO = ZoneInfo("Europe/Oslo")
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def at_oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(dt.UTC)


def make_residency(make_user: Callable[..., User], starts_on: dt.date = dt.date(2027, 1, 1),
                   ends_on: dt.date = dt.date(2028, 1, 1), company: str = "Follow AS", state: str = "active",
                   ended_on: dt.date | None = None, programme: int = 0) -> Residency:
    call = make_call()
    slot = make_slot(call, programme=programme, starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2030, 1, 1))
    application = decided(make_user, call)
    application.company_name = company
    residency = Residency(application_id=application.id, slot_id=slot.id, state=state, starts_on=starts_on,
                          ends_on=ends_on, ended_on=ended_on)
    db.session.add(residency)
    db.session.commit()
    return residency


def check_in_mails() -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.body_text.contains("check-in"))
                                   .order_by(OutboundEmail.id)))


def test_check_ins_fall_every_three_months_while_the_stay_lasts() -> None:
    assert check_ins.check_in_dates(dt.date(2027, 1, 1), dt.date(2028, 1, 1)) == [
        dt.date(2027, 4, 1), dt.date(2027, 7, 1), dt.date(2027, 10, 1)]
    assert check_ins.check_in_dates(dt.date(2027, 1, 1), dt.date(2027, 4, 1)) == []  # ends on the day
    assert check_ins.check_in_dates(dt.date(2027, 11, 30), dt.date(2028, 6, 1)) == [
        dt.date(2028, 2, 29), dt.date(2028, 5, 30)]  # no 30 February: the month's last day


def test_recording_a_check_in_validates_the_date_and_notes(app: Flask, make_user) -> None:
    manager, residency = make_user(Role.MANAGER), make_residency(make_user)
    now = at_oslo(2027, 4, 2, 10)
    with pytest.raises(ServiceError, match="schedule"):
        follow_up.record_check_in(manager, residency, dt.date(2027, 4, 2), "Good", "", now)
    with pytest.raises(ServiceError, match="more than a month away"):
        follow_up.record_check_in(manager, residency, dt.date(2027, 10, 1), "Good", "", now)
    with pytest.raises(ServiceError, match="notes"):
        follow_up.record_check_in(manager, residency, dt.date(2027, 4, 1), "  ", "", now)
    with pytest.raises(ServiceError, match="managers"):
        follow_up.record_check_in(make_user(Role.REVIEWER), residency, dt.date(2027, 4, 1), "Good", "", now)
    follow_up.record_check_in(manager, residency, dt.date(2027, 4, 1), "First trial site signed", "Seed round", now)
    follow_up.record_check_in(manager, residency, dt.date(2027, 4, 1), "Corrected notes", "", now)
    db.session.commit()
    schedule = follow_up.check_in_schedule(residency)
    assert [(item.due_on, item.record.notes if item.record else None) for item in schedule] == [
        (dt.date(2027, 4, 1), "Corrected notes"), (dt.date(2027, 7, 1), None), (dt.date(2027, 10, 1), None)]
    assert db.session.scalar(select(func.count()).select_from(ResidencyCheckIn)) == 1


def test_support_membership_and_report_are_validated_and_saved(app: Flask, make_user) -> None:
    manager, residency = make_user(Role.MANAGER), make_residency(make_user)
    now = at_oslo(2027, 6, 1, 10)
    good = follow_up.SupportData("innovation_norway", "", "applied", 500_000, "NOK", dt.date(2027, 2, 1), None)
    for bad, field in [(good.__class__(**{**good.__dict__, "programme": "lottery"}), "programme"),
                       (good.__class__(**{**good.__dict__, "programme": "other"}), "programme_name"),
                       (good.__class__(**{**good.__dict__, "amount": -1}), "amount"),
                       (good.__class__(**{**good.__dict__, "currency": "XYZ"}), "currency"),
                       (good.__class__(**{**good.__dict__, "status": "declined", "decided_on": dt.date(2027, 1, 1)}),
                        "decided_on"),
                       (good.__class__(**{**good.__dict__, "decided_on": dt.date(2027, 3, 1)}), "decided_on")]:
        with pytest.raises(ServiceError) as refused:
            follow_up.add_support(manager, residency, bad, now)
        assert refused.value.field == field
    support = follow_up.add_support(manager, residency, good, now)
    follow_up.update_support_status(manager, residency, support.id, "granted", dt.date(2027, 5, 20), now)
    other = make_residency(make_user, company="Other AS")
    with pytest.raises(ServiceError, match="No such support"):
        follow_up.update_support_status(manager, other, support.id, "declined", None, now)
    with pytest.raises(ServiceError, match="future"):
        follow_up.set_occ_membership(manager, residency, dt.date(2027, 7, 1), now)
    follow_up.set_occ_membership(manager, residency, dt.date(2027, 2, 15), now)
    with pytest.raises(ServiceError, match="outcomes"):
        follow_up.save_report(manager, residency, follow_up.ReportData(" ", 3, 1, "NOK"), now)
    with pytest.raises(ServiceError, match="jobs"):
        follow_up.save_report(manager, residency, follow_up.ReportData("Grew", -3, 1, "NOK"), now)
    follow_up.save_report(manager, residency, follow_up.ReportData("Grew", 3, 12_000_000, "SEK"), now)
    follow_up.save_report(manager, residency, follow_up.ReportData("Grew fast", 4, 12_000_000, "SEK"), now)
    db.session.commit()
    assert [(s.programme, s.status, s.amount, s.decided_on) for s in follow_up.supports_of(residency)] == [
        ("innovation_norway", "granted", 500_000, dt.date(2027, 5, 20))]
    assert residency.occ_member_since == dt.date(2027, 2, 15)
    report = follow_up.report_of(residency)
    assert report is not None and (report.outcomes, report.jobs_created, report.funding_currency) == (
        "Grew fast", 4, "SEK")


def test_managers_are_reminded_of_a_check_in_a_week_before_and_on_the_day_exactly_once(app: Flask,
                                                                                        make_user) -> None:
    first, second = make_user(Role.MANAGER), make_user(Role.MANAGER)
    quiet = make_user(Role.MANAGER)
    preferences.unsubscribe(quiet)
    make_residency(make_user, company="Quarterly AS")
    db.session.commit()
    # Every six hours from mid-March to mid-April, two sweeps each time.
    moment = at_oslo(2027, 3, 15, 0)
    while moment <= at_oslo(2027, 4, 15, 0):
        for _ in range(2):
            reminders.sweep(moment)
            db.session.commit()
        moment += dt.timedelta(hours=6)
    mails = check_in_mails()
    assert sorted(m.to_address for m in mails) == sorted([first.email, first.email, second.email, second.email])
    assert "Quarterly AS: check-in due 1 April 2027" in mails[0].body_text
    assert "/manage/residencies/" in mails[0].body_text
    keys = set(db.session.scalars(select(SentReminder.key).where(SentReminder.kind == "check_in")))
    assert len(keys) == 4 and {key.rsplit(":", 1)[1] for key in keys} == {"before-7d@2027-04-01", "due@2027-04-01"}


def test_check_in_reminders_go_only_to_managers_whose_scope_covers_the_residency(app: Flask, make_user) -> None:
    whole = make_user(Role.MANAGER)
    in_oslo = make_residency(make_user, company="Oslo Resident AS")
    in_gothenburg = make_residency(make_user, company="Gothenburg Resident AS", programme=1)
    limited = {}
    for name, residency in (("oslo", in_oslo), ("gothenburg", in_gothenburg)):
        manager = limited[name] = make_user(Role.MANAGER)
        db.session.add(ProgrammeScope(user_id=manager.id, programme_id=residency.slot.programme_id))
    db.session.commit()
    for day in (25, 25, 26):  # the week-before reminder, twice over and the day after
        reminders.sweep(at_oslo(2027, 3, day, 12))
        db.session.commit()
    sent = {(key.split(":")[1], key.split(":")[2]) for key in db.session.scalars(
        select(SentReminder.key).where(SentReminder.kind == "check_in"))}
    assert sent == {(str(whole.id), str(in_oslo.id)), (str(whole.id), str(in_gothenburg.id)),
                    (str(limited["oslo"].id), str(in_oslo.id)),
                    (str(limited["gothenburg"].id), str(in_gothenburg.id))}
    mails = {m.to_address: m.body_text for m in check_in_mails()}
    assert len(check_in_mails()) == 3  # one digest each, exactly once
    assert "Oslo Resident AS" in mails[whole.email] and "Gothenburg Resident AS" in mails[whole.email]
    assert "Gothenburg Resident AS" in mails[limited["gothenburg"].email]
    assert "Oslo Resident AS" not in mails[limited["gothenburg"].email]
    assert "Gothenburg Resident AS" not in mails[limited["oslo"].email]


def test_a_recorded_check_in_is_not_reminded_and_an_ended_stay_stops_its_reminders(app: Flask, make_user) -> None:
    manager = make_user(Role.MANAGER)
    recorded = make_residency(make_user, company="Recorded AS")
    make_residency(make_user, company="Left AS", state="ended_early", ends_on=dt.date(2027, 3, 15),
                   ended_on=dt.date(2027, 3, 15))
    follow_up.record_check_in(manager, recorded, dt.date(2027, 4, 1), "Early chat", "", at_oslo(2027, 3, 20, 9))
    db.session.commit()
    for day in range(20, 32):
        reminders.sweep(at_oslo(2027, 3, day, 12))
        db.session.commit()
    assert check_in_mails() == []


def test_the_sweep_query_count_does_not_grow_with_residents(app: Flask, make_user) -> None:
    make_user(Role.MANAGER)
    now = at_oslo(2027, 4, 1, 10)

    def statements_for(count: int) -> tuple[int, int]:
        for number in range(count):
            make_residency(make_user, company=f"Scale {count}-{number} AS")
        db.session.query(SentReminder).delete()
        db.session.commit()
        with statements_sent() as statements:
            report = reminders.sweep(now)
            db.session.commit()
        return len(statements), report.claimed

    small, big = statements_for(2), statements_for(12)
    assert small[0] == big[0], (small, big)
    assert (small[1], big[1]) == (2, 14)


@postgresql_only
def test_two_concurrent_sweepers_remind_of_each_check_in_exactly_once(app: Flask, make_user,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Neither sweeper knows what the other claimed (as when both read before either commits):
    # only the ledger's unique key stands between them and a second reminder.
    monkeypatch.setattr(reminders, "_recently_claimed", lambda now, window: set())
    addresses = [make_user(Role.MANAGER).email for _ in range(3)]
    for number in range(10):
        make_residency(make_user, company=f"Race {number} AS")
    db.session.remove()
    now = at_oslo(2027, 4, 1, 10)
    start = threading.Barrier(2)
    reports: list[reminders.SweepReport] = []
    errors: list[BaseException] = []

    def sweeper() -> None:
        with app.app_context():
            try:
                start.wait(timeout=30)
                report = reminders.sweep(now)
                db.session.commit()
                reports.append(report)
            except BaseException as error:  # noqa: BLE001  # reported below as the test's failure
                errors.append(error)
                db.session.rollback()

    threads = [threading.Thread(target=sweeper) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(report.due for report in reports) == [30, 30]  # both saw every reminder due
    assert sum(report.claimed for report in reports) == 30  # but each was claimed once
    mails = check_in_mails()
    assert sorted(m.to_address for m in mails) == sorted(addresses)
    assert all(m.body_text.count("check-in due 1 April 2027") == 10 for m in mails)
