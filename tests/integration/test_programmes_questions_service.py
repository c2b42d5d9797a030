"""The programmes and questions services on a real database: who may change them, refusals
with their reasons, ordering, and answers that are partial but never malformed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import AuditEvent, Call, Partner, QuestionAnswer, User
from incubator.models.questions import answer_options
from incubator.services import ServiceError
from incubator.services.programmes import (
    InUse,
    ProgrammeInput,
    SiteInput,
    delete_site,
    save_programme,
    save_site,
)
from incubator.services.questions import (
    AnswersInvalid,
    QuestionInput,
    QuestionLocked,
    add_question,
    delete_question,
    missing_question_labels,
    move_question,
    store_answers,
    update_question,
)
from tests.factories import make_application, make_call

SITE = SiteInput(name="Oslo Science Park", organisation="Oslo Science City", city="Oslo", country="NO",
                 timezone="Europe/Oslo")


@pytest.fixture
def manager(app: Flask, make_user) -> User:
    return make_user(Role.MANAGER)


def test_only_managers_change_sites_and_questions(make_user) -> None:
    reviewer = make_user(Role.REVIEWER)
    with pytest.raises(ServiceError, match="Only programme managers change programmes, partners and sites."):
        save_site(reviewer, SITE)
    with pytest.raises(ServiceError, match="Only programme managers change a call's questions."):
        add_question(reviewer, make_call(), QuestionInput(variant="yes_no", label="Lab?"))


def test_a_site_hosting_a_programme_cannot_be_deleted_until_the_programme_moves(manager: User) -> None:
    partner = Partner(name="Oslo Science City")
    db.session.add(partner)
    site, other = save_site(manager, SITE), save_site(manager, SiteInput(**{**SITE.__dict__, "name": "Annex"}))
    programme = save_programme(manager, ProgrammeInput(name="Fellowship", slug="fellowship", host_site_id=site.id,
                                                       partner_id=partner.id, summary="", offers=[]))
    with pytest.raises(InUse, match="Oslo Science Park cannot be deleted: it still has 1 programme"):
        delete_site(manager, site)
    save_programme(manager, ProgrammeInput(name="Fellowship", slug="fellowship", host_site_id=other.id,
                                           partner_id=partner.id, summary="", offers=[]), programme)
    delete_site(manager, site)
    db.session.commit()
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "site.deleted")) == "site.deleted"


def test_questions_are_added_in_order_and_move_within_bounds(manager: User) -> None:
    call = make_call(state="draft")
    first = add_question(manager, call, QuestionInput(variant="short_text", label="First"))
    second = add_question(manager, call, QuestionInput(variant="number", label="Second", min_number=Decimal(1)))
    move_question(manager, first, -1)  # already first
    assert [q.label for q in call.questions] == ["First", "Second"]
    move_question(manager, second, -1)
    db.session.commit()
    db.session.expire_all()
    assert [q.label for q in db.session.get(Call, call.id).questions] == ["Second", "First"]


def test_a_choice_question_needs_options(manager: User) -> None:
    with pytest.raises(ServiceError, match="A choice question needs at least one option."):
        add_question(manager, make_call(), QuestionInput(variant="single_choice", label="Stage", options=[" "]))


def test_answered_questions_are_locked_and_partial_drafts_save(manager: User, make_user) -> None:
    call = make_call()
    stage = add_question(manager, call, QuestionInput(variant="single_choice", label="Stage", required=True,
                                                      options=["Seed", "Series A"]))
    staff = add_question(manager, call, QuestionInput(variant="number", label="Staff", max_number=Decimal(10)))
    application = make_application(make_user(Role.APPLICANT), call)
    assert missing_question_labels(application) == ["Stage"]
    with pytest.raises(AnswersInvalid) as invalid:
        store_answers(application, {stage.id: [str(stage.options[0].id)], staff.id: "11"}, utcnow())
    assert invalid.value.problems == {staff.id: "Enter a number of at most 10.00."}
    store_answers(application, {staff.id: "3"}, utcnow())  # partial: Stage still open
    assert missing_question_labels(application) == ["Stage"]
    with pytest.raises(QuestionLocked, match="“Staff” cannot be changed: applicants have already answered it."):
        update_question(manager, staff, QuestionInput(variant="number", label="Staff"))
    with pytest.raises(QuestionLocked, match="cannot be deleted"):
        delete_question(manager, staff)
    delete_question(manager, stage)  # nobody answered it yet
    db.session.commit()
    assert db.session.scalars(select(QuestionAnswer.number_value)).all() == [Decimal(3)]


def test_erasing_an_account_removes_its_answers_from_drafts_and_decided_applications(manager: User,
                                                                                     make_user) -> None:
    from incubator.services.privacy import erase_account
    from tests.conftest import PASSWORD

    applicant = make_user(Role.APPLICANT)
    draft_call, decided_call = make_call(), make_call()
    for call in (draft_call, decided_call):
        add_question(manager, call, QuestionInput(variant="long_text", label="Plan"))
        add_question(manager, call, QuestionInput(variant="multiple_choice", label="Needs", options=["Lab", "Desk"]))
    draft = make_application(applicant, draft_call)
    decided = make_application(applicant, decided_call, state="rejected", complete=True,
                               decided_at=utcnow(), decision_released_at=utcnow())
    for application in (draft, decided):
        plan, needs = application.call.questions
        store_answers(application, {plan.id: "Our secret plan", needs.id: [str(needs.options[0].id)]}, utcnow())
    db.session.commit()
    erase_account(applicant, PASSWORD, utcnow())
    db.session.commit()
    assert db.session.scalars(select(QuestionAnswer)).all() == []
    assert db.session.execute(select(answer_options)).all() == []
