"""The reminder sweep against a real SMTP server (aiosmtpd) with a controlled clock.

Every test passes ``now`` into ``sweep`` and ``deliver_all_due`` explicitly, so it can walk the
calendar hour by hour across a daylight-saving change in a second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.reminders import ReminderPolicy
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.mail import deliver_all_due
from incubator.models import (
    Application,
    ApplicationMember,
    Assignment,
    OutboundEmail,
    Programme,
    ProgrammePreference,
    ProgrammeScope,
    Review,
    User,
)
from incubator.models.reminders import SentReminder
from incubator.services import outbox, preferences, reminders
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer
from tests.support.statements import statements_sent

OSLO = ZoneInfo("Europe/Oslo")
UTC = dt.UTC


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(UTC)


@pytest.fixture
def mail(app: Flask, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)
    return smtp_server


def tick(now: dt.datetime) -> reminders.SweepReport:
    """One scheduler cycle at ``now``: a sweep (committed), then delivery."""
    report = reminders.sweep(now)
    db.session.commit()
    deliver_all_due(now)
    return report


def hours(start: dt.datetime, end: dt.datetime, step: dt.timedelta = dt.timedelta(hours=1)) -> Iterator[dt.datetime]:
    moment = start
    while moment <= end:
        yield moment
        moment += step


def to(messages, address: str) -> list:
    return [m for m in messages if m["To"] == address]


def submitted(call, company: str) -> Application:
    return make_application(make_applicant(), call, state="submitted", company_name=company)


def submit_review(application: Application, reviewer: User) -> None:
    now = utcnow()
    db.session.add(Review(application_id=application.id, reviewer_id=reviewer.id, state="submitted",
                          submitted_at=now, created_at=now, updated_at=now))
    db.session.commit()


@pytest.fixture
def spring_call(app: Flask):
    """Reviews due 29 March 2027 at 12:00 in Oslo: the day after clocks go forward."""
    deadline = oslo(2027, 3, 29, 12, 0)
    return make_call(opens_at=oslo(2027, 1, 1), closes_at=oslo(2027, 3, 1), review_deadline=deadline)


def test_reviewers_get_one_digest_per_occasion_at_local_noon_across_daylight_saving(
        app: Flask, mail, spring_call, make_user: Callable[..., User]) -> None:
    call = spring_call
    busy = make_reviewer()
    alpha, beta = submitted(call, "Alpha Onco AS"), submitted(call, "Beta Radiopharma AS")
    for application in (alpha, beta):
        make_assignment(application, busy, due_at=call.review_deadline)
    # None for: a submitted review, a withdrawn application, a paused reviewer.
    done = make_reviewer()
    make_assignment(alpha, done, due_at=call.review_deadline)
    submit_review(alpha, done)
    withdrawn_reviewer = make_reviewer()
    gone = make_application(make_applicant(), call, state="withdrawn", company_name="Gone AS")
    make_assignment(gone, withdrawn_reviewer, due_at=call.review_deadline)
    paused = make_reviewer(reminders_paused=True)
    make_assignment(beta, paused, due_at=call.review_deadline)

    sweep_times: dict[str, list[dt.datetime]] = {}
    # Hourly on the days reminders are due (to see the exact hour), every 6 hours otherwise.
    reminder_days = {dt.date(2027, 3, 22), dt.date(2027, 3, 27), dt.date(2027, 3, 28)}
    ticks = sorted({*(t for t in hours(dt.datetime(2027, 3, 20, tzinfo=UTC), call.review_deadline)
                      if t.date() in reminder_days), *hours(dt.datetime(2027, 3, 20, tzinfo=UTC),
                                                            call.review_deadline, dt.timedelta(hours=6)),
                    dt.datetime(2027, 3, 28, 9, 59, tzinfo=UTC), call.review_deadline - dt.timedelta(minutes=1)})
    for now in ticks:
        if tick(now).emails:
            for email in db.session.scalars(select(OutboundEmail).where(OutboundEmail.created_at == now)):
                sweep_times.setdefault(email.to_address, []).append(now)

    # 12:00 Oslo each time: CET (11:00 UTC) before the change, CEST (10:00 UTC) after it.
    assert sweep_times == {busy.email: [dt.datetime(2027, 3, 22, 11, tzinfo=UTC),
                                        dt.datetime(2027, 3, 27, 11, tzinfo=UTC),
                                        dt.datetime(2027, 3, 28, 10, tzinfo=UTC)]}
    messages = mail.messages
    assert len(messages) == 3 and all(m["To"] == busy.email for m in messages)
    for message in messages:  # a digest: both applications in one email
        body = message.get_content()
        assert "Alpha Onco AS" in body and "Beta Radiopharma AS" in body
        assert "29 Mar 2027, 12:00 CEST" in body
        assert message["List-Unsubscribe"].startswith("<http://localhost/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert len({m["Message-ID"] for m in messages}) == 3
    assert db.session.scalar(select(func.count()).select_from(SentReminder)) == 6  # 3 occasions x 2 reviews


def test_overdue_reminders_every_two_days_at_most_three_and_managers_are_told_once(
        app: Flask, mail, spring_call, make_user: Callable[..., User]) -> None:
    call = spring_call
    manager = make_user(Role.MANAGER)
    quiet_manager = make_user(Role.MANAGER)
    preferences.unsubscribe(quiet_manager)
    db.session.commit()
    late = make_reviewer()
    make_assignment(submitted(call, "Late Bio AS"), late, due_at=call.review_deadline)

    for now in hours(call.review_deadline, call.review_deadline + dt.timedelta(days=12), dt.timedelta(hours=6)):
        tick(now)
    reviewer_mail = to(mail.messages, late.email)
    assert len(reviewer_mail) == 3
    assert all(m["Subject"].startswith("Overdue") for m in reviewer_mail)
    [escalation] = to(mail.messages, manager.email)
    assert "Late Bio AS" in escalation.get_content() and late.name in escalation.get_content()
    assert to(mail.messages, quiet_manager.email) == []


def test_applicants_with_a_draft_are_reminded_3_and_1_days_before_closing(app: Flask, mail) -> None:
    closes = oslo(2027, 6, 1, 12)
    call = make_call(opens_at=oslo(2027, 5, 1), closes_at=closes)
    drafting = make_applicant()
    make_application(drafting, call, state="draft")
    finished, withdrawn = make_applicant(), make_applicant()
    make_application(finished, call, state="submitted")
    make_application(withdrawn, call, state="withdrawn")
    for now in hours(closes - dt.timedelta(days=5), closes + dt.timedelta(days=1), dt.timedelta(hours=6)):
        tick(now)
    assert [m["To"] for m in mail.messages] == [drafting.email, drafting.email]
    assert "not submitted" in mail.messages[0]["Subject"]


def test_every_member_of_a_draft_team_is_reminded_once_in_their_language(app: Flask, mail) -> None:
    closes = oslo(2027, 6, 1, 12)
    call = make_call(opens_at=oslo(2027, 5, 1), closes_at=closes)
    owner, editor, viewer, left_quiet = make_applicant(), make_applicant(), make_applicant(), make_applicant()
    viewer.locale = "sv"
    draft = make_application(owner, call, state="draft")
    for member, role in ((editor, "editor"), (viewer, "viewer"), (left_quiet, "editor")):
        db.session.add(ApplicationMember(application_id=draft.id, user_id=member.id, role=role))
    preferences.unsubscribe(left_quiet)
    db.session.commit()
    for now in hours(closes - dt.timedelta(days=5), closes + dt.timedelta(days=1), dt.timedelta(hours=6)):
        tick(now)
        tick(now)
    assert sorted(m["To"] for m in mail.messages) == sorted([owner.email, editor.email, viewer.email] * 2)
    [swedish, *_] = to(mail.messages, viewer.email)
    assert swedish["Subject"] != to(mail.messages, owner.email)[0]["Subject"]  # worded in Swedish
    assert db.session.scalar(select(func.count()).select_from(SentReminder).where(SentReminder.kind == "draft")) == 6


def test_a_second_sweep_at_the_same_time_sends_nothing_more(app: Flask, mail, spring_call) -> None:
    reviewer = make_reviewer()
    make_assignment(submitted(spring_call, "Once AS"), reviewer, due_at=spring_call.review_deadline)
    now = spring_call.review_deadline - dt.timedelta(days=2)
    first = tick(now)
    second = tick(now)
    assert (first.claimed, first.emails) == (1, 1)
    assert (second.due, second.claimed, second.emails) == (0, 0, 0)
    # Even a sweep that does not know what was sent (e.g. racing another one) claims nothing.
    already = reminders._recently_claimed
    try:
        reminders._recently_claimed = lambda now, window: set()  # type: ignore[assignment]
        third = tick(now)
    finally:
        reminders._recently_claimed = already  # type: ignore[assignment]
    assert (third.due, third.claimed, third.emails) == (1, 0, 0)
    assert len(mail.messages) == 1


def test_smtp_down_for_a_sweep_then_back_every_email_arrives_once(app: Flask, mail, spring_call) -> None:
    reviewers = [make_reviewer() for _ in range(4)]
    application = submitted(spring_call, "Resilient AS")
    for reviewer in reviewers:
        make_assignment(application, reviewer, due_at=spring_call.review_deadline)
    now = oslo(2027, 3, 22, 12)  # the 7-day reminder (not deadline - 7 x 24 h: DST lies between)
    mail.fail_with(421, "Service not available", stages=("MAIL",))
    report = reminders.sweep(now)
    db.session.commit()
    delivery = deliver_all_due(now)
    assert report.emails == 4 and len(delivery.retrying) == 4 and mail.messages == []
    pending = db.session.scalars(select(OutboundEmail)).all()
    assert {e.status for e in pending} == {"pending"} and all("421" in e.last_error for e in pending)
    tick(now + dt.timedelta(minutes=5))  # still down, not yet due again, and no new reminders
    mail.recover()
    later = now + dt.timedelta(hours=1)
    tick(later)
    tick(later + dt.timedelta(hours=1))
    assert sorted(m["To"] for m in mail.messages) == sorted(r.email for r in reviewers)
    assert {e.status for e in db.session.scalars(select(OutboundEmail))} == {"sent"}


def test_permanent_failure_is_kept_and_can_be_resent_once(app: Flask, mail, spring_call,
                                                          make_user: Callable[..., User]) -> None:
    admin = make_user(Role.ADMIN)
    reviewer = make_reviewer()
    make_assignment(submitted(spring_call, "Bounce AS"), reviewer, due_at=spring_call.review_deadline)
    now = spring_call.review_deadline - dt.timedelta(days=2)
    mail.fail_with(550, "Mailbox unavailable", times=1)
    tick(now)
    [email] = db.session.scalars(select(OutboundEmail)).all()
    assert email.status == "failed" and "550" in email.last_error
    outbox.resend_failed(admin, email.id, now)
    db.session.commit()
    deliver_all_due(now)
    deliver_all_due(now + dt.timedelta(hours=1))
    assert len(mail.messages) == 1
    from incubator.services import ServiceError

    with pytest.raises(ServiceError):
        outbox.resend_failed(admin, email.id, now)


def test_policy_changes_apply_and_a_disabled_policy_sends_nothing(app: Flask, mail, spring_call,
                                                                  make_user: Callable[..., User]) -> None:
    manager = make_user(Role.MANAGER)
    reviewer = make_reviewer()
    make_assignment(submitted(spring_call, "Policy AS"), reviewer, due_at=spring_call.review_deadline)
    reminders.save_policy(manager, spring_call, ReminderPolicy(reviewer_days_before=(5,), overdue_max=0,
                                                               escalate_with_overdue=0))
    db.session.commit()
    for now in hours(spring_call.review_deadline - dt.timedelta(days=8), spring_call.review_deadline
                     + dt.timedelta(days=8), dt.timedelta(hours=6)):
        tick(now)
    assert len(mail.messages) == 1
    reminders.save_policy(manager, spring_call, ReminderPolicy(enabled=False))
    db.session.commit()
    assert reminders.sweep(spring_call.review_deadline - dt.timedelta(days=1)).due == 0


def test_weekly_digest_to_managers_once_a_week(app: Flask, mail, spring_call, make_user: Callable[..., User]) -> None:
    manager = make_user(Role.MANAGER)
    reviewer = make_reviewer()
    make_assignment(submitted(spring_call, "Digest AS"), reviewer, due_at=spring_call.review_deadline)
    reminders.save_policy(manager, spring_call, ReminderPolicy(reviewer_days_before=(), overdue_max=0,
                                                               escalate_with_overdue=0, manager_digest_weekday=0))
    db.session.commit()
    for now in hours(oslo(2027, 3, 8), oslo(2027, 3, 21, 23), dt.timedelta(hours=8)):
        tick(now)
    digests = to(mail.messages, manager.email)
    assert len(digests) == 2  # Mondays 8 and 15 March
    assert "0 of 1 reviews submitted" in digests[0].get_content()


def test_sweep_query_count_does_not_grow_with_assignments(app: Flask, spring_call,
                                                          make_user: Callable[..., User]) -> None:
    make_user(Role.MANAGER)
    now = spring_call.review_deadline - dt.timedelta(days=2)

    def count_queries(extra: int) -> tuple[int, int]:
        reviewers = [make_reviewer() for _ in range(extra)]
        for number, reviewer in enumerate(reviewers):
            application = submitted(spring_call, f"Scale {extra}-{number} AS")
            make_assignment(application, reviewer, due_at=spring_call.review_deadline)
            make_assignment(application, make_reviewer(), due_at=spring_call.review_deadline)
        db.session.query(SentReminder).delete()
        db.session.commit()
        with statements_sent() as statements:
            report = reminders.sweep(now)
            db.session.commit()
        return len(statements), report.emails

    small, big = count_queries(2), count_queries(20)
    assert small[0] == big[0], (small, big)
    assert big[1] > small[1]
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 44


def _limited_to(user: User, programme: Programme) -> User:
    db.session.add(ProgrammeScope(user_id=user.id, programme_id=programme.id))
    db.session.commit()
    return user


def _ranking(call, company: str, programme: Programme) -> Application:
    application = submitted(call, company)
    db.session.add(ProgrammePreference(application_id=application.id, programme_id=programme.id, rank=1))
    db.session.commit()
    return application


def test_a_limited_manager_is_told_only_of_overdue_reviews_in_their_programmes(
        app: Flask, mail, spring_call, make_user: Callable[..., User]) -> None:
    occ, bvh = (entry.programme for entry in spring_call.programmes)
    whole = make_user(Role.MANAGER)
    partner = _limited_to(make_user(Role.MANAGER), bvh)
    for company, programme in (("Gothenburg Late AS", bvh), ("Oslo Late AS", occ)):
        make_assignment(_ranking(spring_call, company, programme), make_reviewer(),
                        due_at=spring_call.review_deadline)
    for now in hours(spring_call.review_deadline, spring_call.review_deadline + dt.timedelta(days=12),
                     dt.timedelta(hours=6)):
        tick(now)
        tick(now)  # a second scheduler: still once
    told_whole = "".join(m.get_content() for m in to(mail.messages, whole.email))
    assert "Gothenburg Late AS" in told_whole and "Oslo Late AS" in told_whole
    [told_partner] = to(mail.messages, partner.email)
    assert "Gothenburg Late AS" in told_partner.get_content()
    assert "Oslo Late AS" not in told_partner.get_content()
    escalations = db.session.scalars(select(SentReminder.recipient_id).where(SentReminder.kind == "escalation")).all()
    assert sorted(escalations) == sorted([whole.id, whole.id, partner.id])  # exactly once each


def test_a_limited_manager_gets_the_digest_only_of_calls_offering_their_programmes(
        app: Flask, mail, spring_call, make_user: Callable[..., User]) -> None:
    occ, bvh = (entry.programme for entry in spring_call.programmes)
    occ_call = make_call(opens_at=spring_call.opens_at, closes_at=spring_call.closes_at,
                         review_deadline=spring_call.review_deadline, title="Oslo only intake")
    occ_call.programmes.pop(1)
    db.session.commit()
    whole = make_user(Role.MANAGER)
    partner = _limited_to(make_user(Role.MANAGER), bvh)
    for call, company in ((spring_call, "Shared Digest AS"), (occ_call, "Oslo Digest AS")):
        make_assignment(submitted(call, company), make_reviewer(), due_at=call.review_deadline)
        reminders.save_policy(whole, call, ReminderPolicy(reviewer_days_before=(), overdue_max=0,
                                                          escalate_with_overdue=0, manager_digest_weekday=0))
    db.session.commit()
    for now in hours(oslo(2027, 3, 8), oslo(2027, 3, 9), dt.timedelta(hours=8)):
        tick(now)
    [whole_digest] = to(mail.messages, whole.email)
    assert spring_call.title in whole_digest.get_content() and "Oslo only intake" in whole_digest.get_content()
    [partner_digest] = to(mail.messages, partner.email)
    assert spring_call.title in partner_digest.get_content()
    assert "Oslo only intake" not in partner_digest.get_content()


def test_a_limited_managers_digest_counts_only_their_programmes_applications(
        app: Flask, mail, spring_call, make_user: Callable[..., User]) -> None:
    occ, bvh = (entry.programme for entry in spring_call.programmes)
    whole = make_user(Role.MANAGER)
    partner = _limited_to(make_user(Role.MANAGER), bvh)
    make_assignment(_ranking(spring_call, "Gothenburg Digest AS", bvh), make_reviewer(),
                    due_at=spring_call.review_deadline)
    oslo_application = _ranking(spring_call, "Oslo Digest AS", occ)
    make_assignment(oslo_application, make_reviewer(), due_at=oslo(2027, 3, 5))  # overdue by the 8th
    done_by = make_reviewer()
    make_assignment(oslo_application, done_by, due_at=spring_call.review_deadline)
    submit_review(oslo_application, done_by)
    reminders.save_policy(whole, spring_call, ReminderPolicy(reviewer_days_before=(), overdue_max=0,
                                                             escalate_with_overdue=0, manager_digest_weekday=0))
    db.session.commit()
    for now in hours(oslo(2027, 3, 8), oslo(2027, 3, 9), dt.timedelta(hours=8)):
        tick(now)
    [whole_digest] = to(mail.messages, whole.email)
    assert "1 of 3 reviews submitted, 1 overdue" in whole_digest.get_content()
    [partner_digest] = to(mail.messages, partner.email)
    assert "0 of 1 reviews submitted, 0 overdue" in partner_digest.get_content()


def test_limited_managers_digests_cost_a_query_per_scope_whatever_the_number_of_assignments(
        app: Flask, spring_call, make_user: Callable[..., User]) -> None:
    occ, bvh = (entry.programme for entry in spring_call.programmes)
    whole = make_user(Role.MANAGER)
    for programme in (bvh, bvh, occ):  # two distinct scopes
        _limited_to(make_user(Role.MANAGER), programme)
    reminders.save_policy(whole, spring_call, ReminderPolicy(reviewer_days_before=(), overdue_max=0,
                                                             escalate_with_overdue=0, manager_digest_weekday=0))
    db.session.commit()

    def count_queries(extra: int) -> tuple[int, int]:
        for number in range(extra):
            programme = bvh if number % 2 else occ
            make_assignment(_ranking(spring_call, f"Scope {extra}-{number} AS", programme), make_reviewer(),
                            due_at=spring_call.review_deadline)
        db.session.query(SentReminder).delete()
        db.session.commit()
        with statements_sent() as statements:
            report = reminders.sweep(oslo(2027, 3, 8, 9))
            db.session.commit()
        return len(statements), report.emails

    small, big = count_queries(2), count_queries(20)
    assert small == big and small[1] == 4, (small, big)  # every manager's digest, at the same cost
