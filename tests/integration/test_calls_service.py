"""The calls service on a real database: create, edit after opening, publish, the lifecycle,
and cloning, with every refusal's reason."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.calls import CALL_STATES
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    AuditEvent,
    Call,
    CallQuestion,
    CallReminderPolicy,
    Criterion,
    QuestionOption,
    User,
)
from incubator.services import ServiceError
from incubator.services.calls import (
    CallConflict,
    CallInput,
    OfferedProgramme,
    advance_call,
    clone_call,
    create_call,
    publish_call,
    update_call,
)
from tests.factories import make_application, make_call
from tests.factories_reviews import make_assignment

NOW = utcnow()


@pytest.fixture
def manager(app: Flask, make_user) -> User:
    return make_user(Role.MANAGER)


def input_for(call: Call, **changes) -> CallInput:
    item = CallInput(
        title=call.title, slug=call.slug, description=call.description, eligibility_summary="",
        timezone=call.timezone, opens_at=call.opens_at, closes_at=call.closes_at,
        review_deadline=call.review_deadline, decision_date=call.decision_date,
        reviewers_per_application=call.reviewers_per_application,
        disagreement_threshold=call.disagreement_threshold,
        programmes=[OfferedProgramme(row.programme_id, list(row.eligible_countries), row.eligibility_note)
                    for row in call.programmes])
    return dataclasses.replace(item, **changes)


def test_a_new_call_is_a_draft_the_public_does_not_see(manager: User) -> None:
    template = make_call()
    call = create_call(manager, input_for(template, slug="autumn-2027", title="Autumn 2027"))
    db.session.commit()
    assert call.state == "draft"
    assert not call.is_public(NOW) and not call.is_open(NOW)
    assert [row.programme_id for row in call.programmes] == [row.programme_id for row in template.programmes]


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"slug": "Bad Slug"}, "slug", "Use lowercase letters, digits and single hyphens in the slug"),
    ({"timezone": "Mars/Olympus"}, "timezone", "Mars/Olympus is not a time zone name"),
    ({"closes_at": NOW - dt.timedelta(days=2)}, "closes_at", "The call must close after it opens."),
    ({"review_deadline": NOW}, "review_deadline", "Reviews are due after the call closes."),
    ({"reviewers_per_application": 0}, "reviewers_per_application", "Each application needs at least one reviewer."),
    ({"disagreement_threshold": Decimal(0)}, "disagreement_threshold", "The disagreement threshold must be above 0."),
    ({"programmes": []}, None, "Offer at least one programme in the call."),
])
def test_bad_call_input_is_refused_with_its_reason(manager: User, changes, field, message) -> None:
    template = make_call()
    with pytest.raises(ServiceError) as refused:
        create_call(manager, input_for(template, **{"slug": "new-call", **changes}))
    assert message in refused.value.message
    assert refused.value.field == field


def test_duplicate_slug_is_refused(manager: User) -> None:
    template = make_call()
    with pytest.raises(ServiceError, match=f"Another call uses the web address {template.slug}"):
        create_call(manager, input_for(template))


def test_decision_date_before_the_review_deadline_is_refused(manager: User) -> None:
    template = make_call(review_deadline=NOW + dt.timedelta(days=40))
    with pytest.raises(ServiceError, match="The decision date comes after"):
        create_call(manager, input_for(template, slug="x", decision_date=(NOW + dt.timedelta(days=35)).date()))


def test_only_managers_change_calls(make_user) -> None:
    template = make_call()
    with pytest.raises(ServiceError, match="Only programme managers change calls."):
        create_call(make_user(Role.REVIEWER), input_for(template, slug="x"))


def test_extending_an_opened_call_is_allowed_and_logged(manager: User) -> None:
    call = make_call(review_deadline=NOW + dt.timedelta(days=40))
    old_close = call.closes_at
    update_call(manager, call, input_for(call, closes_at=old_close + dt.timedelta(days=7)), NOW)
    db.session.commit()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "call.deadline_extended"))
    assert event.subject_id == call.id
    assert event.details["closes_at"]["from"] == old_close.isoformat()


def test_opened_call_cannot_close_earlier_or_move_its_opening(manager: User) -> None:
    call = make_call()
    with pytest.raises(CallConflict, match="its closing time can only move later"):
        update_call(manager, call, input_for(call, closes_at=call.closes_at - dt.timedelta(days=1)), NOW)
    with pytest.raises(CallConflict, match="its opening time can no longer change"):
        update_call(manager, call, input_for(call, opens_at=call.opens_at - dt.timedelta(days=1)), NOW)


def test_draft_may_change_anything(manager: User) -> None:
    call = make_call(state="draft")
    update_call(manager, call, input_for(call, closes_at=call.closes_at - dt.timedelta(days=1),
                                         programmes=input_for(call).programmes[:1]), NOW)
    assert len(call.programmes) == 1


def test_opened_call_cannot_narrow_eligibility(manager: User) -> None:
    call = make_call()  # OCC open to all; exchange for NO
    item = input_for(call)
    narrowed = [dataclasses.replace(item.programmes[0], eligible_countries=["NO"]), item.programmes[1]]
    with pytest.raises(CallConflict, match="OCC Incubator: eligibility cannot be narrowed"):
        update_call(manager, call, dataclasses.replace(item, programmes=narrowed), NOW)
    widened = [item.programmes[0], dataclasses.replace(item.programmes[1], eligible_countries=["NO", "SE"])]
    update_call(manager, call, dataclasses.replace(item, programmes=widened), NOW)
    assert call.programmes[1].eligible_countries == ["NO", "SE"]


def test_opened_call_cannot_drop_a_programme_an_applicant_chose(manager: User, make_user) -> None:
    call = make_call()
    make_application(make_user(Role.APPLICANT), call, complete=True)  # chose OCC Incubator
    item = input_for(call)
    with pytest.raises(CallConflict, match="OCC Incubator cannot be removed: applicants have chosen it."):
        update_call(manager, call, dataclasses.replace(item, programmes=item.programmes[1:]), NOW)
    update_call(manager, call, dataclasses.replace(item, programmes=item.programmes[:1]), NOW)
    assert [row.programme.name for row in call.programmes] == ["OCC Incubator"]


def test_publishing_needs_a_closing_time_in_the_future(manager: User) -> None:
    call = make_call(state="draft", opens_at=NOW - dt.timedelta(days=10), closes_at=NOW - dt.timedelta(days=1))
    with pytest.raises(CallConflict, match="The closing time is in the past"):
        publish_call(manager, call, NOW)
    assert call.state == "draft"


def test_publish_then_lifecycle_to_archived(manager: User) -> None:
    call = make_call(state="draft", opens_at=NOW - dt.timedelta(days=10), closes_at=NOW + dt.timedelta(days=1))
    publish_call(manager, call, NOW)
    assert call.state == "published" and call.is_open(NOW)
    with pytest.raises(CallConflict, match="Only a draft can be published"):
        publish_call(manager, call, NOW)
    with pytest.raises(CallConflict, match="The call is still open"):
        advance_call(manager, call, NOW)
    later = NOW + dt.timedelta(days=2)
    seen = [advance_call(manager, call, later) for _ in CALL_STATES[2:]]
    assert seen == ["closed", "reviewing", "deciding", "decided", "archived"]
    with pytest.raises(CallConflict, match="An archived call is at the end of its life."):
        advance_call(manager, call, later)
    db.session.commit()
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == call.id,
                                                                 AuditEvent.subject_type == "call")).all()
    assert actions.count("call.state_changed") == 5 and "call.published" in actions


def test_a_draft_cannot_skip_publishing(manager: User) -> None:
    call = make_call(state="draft")
    with pytest.raises(CallConflict, match="Publish the draft first."):
        advance_call(manager, call, NOW)


def test_a_closed_call_takes_no_applications_even_before_its_closing_time(manager: User, make_user) -> None:
    from incubator.services.applications import start_application

    call = make_call()
    call.state = "closed"
    db.session.commit()
    with pytest.raises(ServiceError, match="The call closed"):
        start_application(make_user(Role.APPLICANT), call, NOW)


def test_clone_copies_programmes_rubric_questions_policy_and_thresholds(manager: User) -> None:
    source = make_call(reviewers_per_application=2, disagreement_threshold=Decimal("0.75"),
                       review_deadline=NOW + dt.timedelta(days=40))
    source.criteria = [Criterion(position=0, name="Team", weight=Decimal(20), descriptors={"5": "Excellent"},
                                 threshold=Decimal(3))]
    source.questions = [CallQuestion(position=0, variant="single_choice", label="Stage", required=True,
                                     options=[QuestionOption(position=0, label="Seed"),
                                              QuestionOption(position=1, label="Series A")])]
    db.session.add(CallReminderPolicy(call_id=source.id, reviewer_days_before=[5, 1], overdue_max=2))
    db.session.commit()
    clone = clone_call(manager, source, "Next intake", "next-intake")
    db.session.commit()
    assert (clone.state, clone.slug, clone.reviewers_per_application, clone.disagreement_threshold) == (
        "draft", "next-intake", 2, Decimal("0.75"))
    assert [(r.programme_id, r.eligible_countries) for r in clone.programmes] == [
        (r.programme_id, r.eligible_countries) for r in source.programmes]
    assert [(c.name, c.threshold, c.descriptors) for c in clone.criteria] == [("Team", Decimal(3), {"5": "Excellent"})]
    assert [(q.label, q.required, [o.label for o in q.options]) for q in clone.questions] == [
        ("Stage", True, ["Seed", "Series A"])]
    assert clone.questions[0].id != source.questions[0].id
    policy = db.session.get(CallReminderPolicy, clone.id)
    assert (policy.reviewer_days_before, policy.overdue_max) == ([5, 1], 2)


def test_clone_with_a_taken_slug_is_refused(manager: User) -> None:
    source = make_call()
    with pytest.raises(ServiceError, match=f"Another call uses the web address {source.slug}"):
        clone_call(manager, source, "Again", source.slug)


def test_an_archived_call_no_longer_changes(manager: User) -> None:
    call = make_call(state="archived")
    with pytest.raises(CallConflict, match="An archived call no longer changes."):
        update_call(manager, call, input_for(call, title="Renamed"), NOW)


def test_calls_past_publishing_stay_public_but_take_no_applications(app: Flask) -> None:
    call = make_call(state="reviewing")
    assert call.is_public(NOW) and not call.is_open(NOW)


def test_assignments_due_at_the_review_deadline_follow_it_when_it_moves(manager: User, make_user) -> None:
    """Assignments are due at the deadline as it stood when they were made; an extension must
    reach them (the reviewer's list, reminders and the board read the assignment's date), and
    one due at another moment keeps it. Assignments of other calls are not touched."""
    old = NOW + dt.timedelta(days=40)
    call, other_call = make_call(review_deadline=old), make_call(review_deadline=old)
    reviewer = make_user(Role.REVIEWER)
    applications = [make_application(make_user(), target, state="submitted") for target in (call, call, other_call)]
    followed = make_assignment(applications[0], reviewer, due_at=old)
    own_date = make_assignment(applications[1], reviewer, due_at=old + dt.timedelta(days=2))
    elsewhere = make_assignment(applications[2], reviewer, due_at=old)
    new = old + dt.timedelta(days=7)
    update_call(manager, call, input_for(call, review_deadline=new), NOW)
    db.session.commit()
    db.session.expire_all()
    assert followed.due_at == new
    assert own_date.due_at == old + dt.timedelta(days=2) and elsewhere.due_at == old


def test_assignments_made_while_the_call_had_no_review_deadline_take_the_new_one(manager: User,
                                                                                 make_user) -> None:
    call = make_call(review_deadline=None)
    assignment = make_assignment(make_application(make_user(), call, state="submitted"), make_user(Role.REVIEWER))
    deadline = NOW + dt.timedelta(days=40)
    update_call(manager, call, input_for(call, review_deadline=deadline), NOW)
    db.session.commit()
    db.session.expire_all()
    assert assignment.due_at == deadline
