"""The reviews service on a real database: drafts, submission, scales and steps, the deadline,
others' reviews after one's own, the reviewer's list, conflicts and the reviewer profile."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Application, Assignment, AuditEvent, Call, Conflict, Criterion, Review, User
from incubator.services import ServiceError
from incubator.services.applications import NotAllowed
from incubator.services.conflicts import declare_conflict
from incubator.services.reviews import (
    InvalidAnswers,
    other_reviews,
    others_reviews_visible,
    reviewer_assignments,
    reviewer_profile,
    save_review,
    update_reviewer_profile,
)
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric

NOW = utcnow()


@pytest.fixture
def call(app: Flask) -> Call:
    call = make_call(review_deadline=NOW + dt.timedelta(days=40))
    make_rubric(call, [
        {"name": "Team", "weight": Decimal(20), "descriptors": {"3": "Good"}},
        {"name": "IP position", "weight": Decimal(15)},
    ])
    return call


@pytest.fixture
def criteria(call: Call) -> list[Criterion]:
    return list(call.criteria)


@pytest.fixture
def application(call: Call) -> Application:
    return make_application(make_applicant(), call, state="submitted", complete=True, company_name="Radiant Bio AS")


@pytest.fixture
def reviewer(application: Application) -> User:
    reviewer = make_reviewer()
    make_assignment(application, reviewer)
    return reviewer


def _save(reviewer: User, application: Application, scores: dict[int, Decimal | None], *, submit: bool,
          comment: str = "Solid team, thin IP.", confidence: int | None = 4, now: dt.datetime = NOW) -> Review:
    review = save_review(reviewer, application, scores, comment, "", confidence, submit=submit, now=now)
    db.session.commit()
    return review


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_draft_may_be_partial_and_has_no_weighted_score(reviewer, application, criteria) -> None:
    team, ip = criteria
    review = _save(reviewer, application, {team.id: Decimal("3.5"), ip.id: None}, submit=False, comment="",
                   confidence=None)
    assert review.state == "draft" and review.submitted_at is None
    assert {score.criterion_id: score.value for score in review.scores} == {team.id: Decimal("3.5")}
    assert review.weighted_score is None
    assert [event.details["state"] for event in _events("review.saved")] == ["draft"]


def test_submit_with_all_scores_stores_the_hand_computed_weighted_score(reviewer, application, criteria) -> None:
    team, ip = criteria
    review = _save(reviewer, application, {team.id: Decimal("4.5"), ip.id: Decimal(3)}, submit=True)
    assert review.state == "submitted" and review.submitted_at == NOW
    # (20 × 4.5 + 15 × 3) / (20 + 15) = 135 / 35 = 3.857142…
    assert review.weighted_score == Decimal("3.8571")
    assert len(_events("review.submitted")) == 1


def test_draft_with_every_score_already_has_its_weighted_score(reviewer, application, criteria) -> None:
    team, ip = criteria
    review = _save(reviewer, application, {team.id: Decimal(5), ip.id: Decimal(1)}, submit=False)
    assert review.state == "draft" and review.weighted_score == Decimal("3.2857")  # 115 / 35


def test_saving_again_updates_scores_and_can_clear_one_in_a_draft(reviewer, application, criteria) -> None:
    team, ip = criteria
    _save(reviewer, application, {team.id: Decimal(2), ip.id: Decimal(2)}, submit=False)
    review = _save(reviewer, application, {team.id: Decimal(4), ip.id: None}, submit=False)
    assert {score.criterion_id: score.value for score in review.scores} == {team.id: Decimal(4)}
    assert review.weighted_score is None
    assert db.session.scalar(select(func.count()).select_from(Review)) == 1


@pytest.mark.parametrize(("value", "message"), [
    (Decimal("4.3"), "Team: 4.3 is not on the 0.5 step."),
    (Decimal(7), "Team: 7 is outside the scale 0–5."),
    (Decimal(-1), "Team: -1 is outside the scale 0–5."),
])
def test_score_off_the_scale_or_step_is_refused_naming_the_criterion(reviewer, application, criteria, value,
                                                                      message) -> None:
    team, ip = criteria
    with pytest.raises(InvalidAnswers) as refused:
        save_review(reviewer, application, {team.id: value, ip.id: Decimal(3)}, "x", "", 3, submit=False, now=NOW)
    assert refused.value.errors == {f"score_{team.id}": message}


def test_submit_requires_every_criterion_the_committee_comment_and_confidence(reviewer, application,
                                                                              criteria) -> None:
    team, ip = criteria
    with pytest.raises(InvalidAnswers) as refused:
        save_review(reviewer, application, {team.id: Decimal(3)}, "  ", "", None, submit=True, now=NOW)
    errors = refused.value.errors
    assert set(errors) == {f"score_{ip.id}", "comment_committee", "confidence"}
    assert "IP position" in errors[f"score_{ip.id}"]


def test_confidence_must_be_1_to_5(reviewer, application, criteria) -> None:
    with pytest.raises(InvalidAnswers) as refused:
        save_review(reviewer, application, {}, "", "", 6, submit=False, now=NOW)
    assert set(refused.value.errors) == {"confidence"}


def test_score_for_a_criterion_of_another_call_is_refused(reviewer, application) -> None:
    other_call = make_call()
    [foreign] = make_rubric(other_call, [{"name": "Elsewhere", "weight": Decimal(1)}])
    with pytest.raises(ServiceError):
        save_review(reviewer, application, {foreign.id: Decimal(3)}, "", "", None, submit=False, now=NOW)


def test_submitted_review_can_be_edited_until_the_deadline_and_stays_submitted(reviewer, application,
                                                                               criteria) -> None:
    team, ip = criteria
    _save(reviewer, application, {team.id: Decimal(3), ip.id: Decimal(3)}, submit=True)
    later = NOW + dt.timedelta(days=1)
    review = _save(reviewer, application, {team.id: Decimal(5), ip.id: Decimal(3)}, submit=False, now=later)
    assert review.state == "submitted" and review.submitted_at == NOW and review.updated_at == later
    assert review.weighted_score == Decimal("4.1429")  # (100 + 45) / 35
    # An edit of a submitted review must keep it complete.
    with pytest.raises(InvalidAnswers):
        save_review(reviewer, application, {team.id: Decimal(5)}, "x", "", 3, submit=False, now=later)


def test_saving_after_the_review_deadline_is_refused(reviewer, application, call, criteria) -> None:
    team, ip = criteria
    _save(reviewer, application, {team.id: Decimal(3)}, submit=False)
    with pytest.raises(ServiceError, match="The review deadline has passed"):
        save_review(reviewer, application, {team.id: Decimal(4)}, "x", "", 3, submit=False,
                    now=call.review_deadline)
    assert db.session.scalar(select(Review)).scores[0].value == Decimal(3)


def test_call_without_review_deadline_accepts_reviews_any_time(app, criteria) -> None:
    call = make_call(review_deadline=None)
    [criterion] = make_rubric(call, [{"name": "Only", "weight": Decimal(1)}])
    application = make_application(make_applicant(), call, state="under_review", complete=True)
    reviewer = make_reviewer()
    make_assignment(application, reviewer)
    review = _save(reviewer, application, {criterion.id: Decimal(2)}, submit=True, now=NOW + dt.timedelta(days=999))
    assert review.state == "submitted" and review.weighted_score == Decimal(2)


def test_only_an_assigned_reviewer_of_a_submitted_application_may_review(app, application, call, criteria) -> None:
    stranger = make_reviewer()
    with pytest.raises(NotAllowed):
        save_review(stranger, application, {}, "", "", None, submit=False, now=NOW)
    draft = make_application(make_applicant(), call, state="draft", complete=True)
    assigned_to_draft = make_reviewer()
    make_assignment(draft, assigned_to_draft)
    with pytest.raises(NotAllowed):
        save_review(assigned_to_draft, draft, {}, "", "", None, submit=False, now=NOW)


def test_decided_application_can_no_longer_be_reviewed(reviewer, application) -> None:
    application.state = "rejected"
    application.decided_at = NOW
    db.session.commit()
    with pytest.raises(ServiceError, match="no longer under review"):
        save_review(reviewer, application, {}, "", "", None, submit=False, now=NOW)


def test_conflicted_reviewer_cannot_review_even_while_still_assigned(reviewer, application) -> None:
    # A conflict recorded by a route that left the assignment in place still hides the application.
    db.session.add(Conflict(reviewer_id=reviewer.id, application_id=application.id, source="detected",
                            reason="same email domain"))
    db.session.commit()
    with pytest.raises(NotAllowed):
        save_review(reviewer, application, {}, "", "", None, submit=False, now=NOW)
    assert reviewer_assignments(reviewer) == []


def test_others_reviews_are_visible_only_after_submitting_ones_own(reviewer, application, criteria) -> None:
    team, ip = criteria
    colleague = make_reviewer()
    make_assignment(application, colleague)
    theirs = make_review(application, colleague, {team.id: 4, ip.id: 4}, comment_committee="Strong")
    drafter = make_reviewer()
    make_assignment(application, drafter)
    make_review(application, drafter, {team.id: 1, ip.id: 1}, state="draft")

    assert not others_reviews_visible(reviewer, application) and other_reviews(reviewer, application) == []
    _save(reviewer, application, {team.id: Decimal(3)}, submit=False)
    assert not others_reviews_visible(reviewer, application)
    _save(reviewer, application, {team.id: Decimal(3), ip.id: Decimal(3)}, submit=True)
    assert others_reviews_visible(reviewer, application)
    assert [review.id for review in other_reviews(reviewer, application)] == [theirs.id]  # no drafts, not own


def test_reviewer_assignments_lists_state_and_due_date_and_leaves_out_conflicts(app, call, reviewer,
                                                                                application, criteria) -> None:
    due = NOW - dt.timedelta(hours=1)
    second = make_application(make_applicant(), call, state="under_review", complete=True, company_name="Beta AS")
    make_assignment(second, reviewer, due_at=due)
    hidden = make_application(make_applicant(), call, state="submitted", complete=True, company_name="Hidden AS")
    make_assignment(hidden, reviewer)
    db.session.add(Conflict(reviewer_id=reviewer.id, country=hidden.country, org_number=hidden.org_number,
                            source="manager", reason="board member"))
    withdrawn = make_application(make_applicant(), call, state="withdrawn", complete=True)
    make_assignment(withdrawn, reviewer)
    make_assignment(make_application(make_applicant(), call, state="submitted", complete=True), make_reviewer())
    _save(reviewer, application, {criteria[0].id: Decimal(3)}, submit=False)

    rows = reviewer_assignments(reviewer)
    assert [row.company_name for row in rows] == ["Beta AS", "Radiant Bio AS"]  # the overdue one first
    beta, radiant = rows
    assert beta.due_at == due and beta.review_state is None and beta.is_overdue(NOW)
    assert radiant.due_at == call.review_deadline and radiant.review_state == "draft"
    assert not radiant.is_overdue(NOW) and radiant.call_timezone == "Europe/Oslo"


def test_submitted_review_is_never_overdue(reviewer, application, criteria) -> None:
    db.session.execute(update(Assignment).values(due_at=NOW - dt.timedelta(days=1)))
    db.session.commit()
    team, ip = criteria
    _save(reviewer, application, {team.id: Decimal(3), ip.id: Decimal(3)}, submit=True)
    [row] = reviewer_assignments(reviewer)
    assert row.review_state == "submitted" and not row.is_overdue(NOW)


def test_declaring_a_conflict_removes_assignment_and_draft(reviewer, application, criteria) -> None:
    _save(reviewer, application, {criteria[0].id: Decimal(3)}, submit=False)
    declare_conflict(reviewer, application, "I advise their board.", whole_company=False, now=NOW)
    db.session.commit()
    assert db.session.scalar(select(Assignment).where(Assignment.reviewer_id == reviewer.id)) is None
    assert db.session.scalar(select(Review).where(Review.reviewer_id == reviewer.id)) is None
    assert reviewer_assignments(reviewer) == []
    with pytest.raises(NotAllowed):
        save_review(reviewer, application, {}, "", "", None, submit=False, now=NOW)


def test_profile_is_created_on_first_save_and_updated_after(app) -> None:
    user = make_reviewer()
    db.session.delete(reviewer_profile(user))
    db.session.commit()
    profile = update_reviewer_profile(user, ["diagnostics", "immuno_oncology", "diagnostics"], " Flow cytometry ",
                                      12, " Oslo University Hospital ", now=NOW)
    db.session.commit()
    assert profile.focus_areas == ["immuno_oncology", "diagnostics"]  # the list's order, no repeats
    assert profile.expertise == "Flow cytometry" and profile.max_load == 12
    assert user.affiliation == "Oslo University Hospital"
    update_reviewer_profile(user, [], "", 0, "", now=NOW)
    db.session.commit()
    assert reviewer_profile(user).max_load == 0 and user.affiliation is None
    assert len(_events("reviewer.profile_updated")) == 2


@pytest.mark.parametrize(("args", "field"), [
    ((["astrology"], "", 5, ""), "focus_areas"),
    (([], "", -1, ""), "max_load"),
    (([], "", 201, ""), "max_load"),
    (([], "", None, ""), "max_load"),
    (([], "x" * 5001, 5, ""), "expertise"),
    (([], "", 5, "y" * 201), "affiliation"),
])
def test_profile_validation(app, args, field) -> None:
    user = make_reviewer()
    with pytest.raises(InvalidAnswers) as refused:
        update_reviewer_profile(user, *args, now=NOW)
    assert set(refused.value.errors) == {field}


def test_max_load_may_not_go_below_the_minimum_a_manager_set(app) -> None:
    user = make_reviewer(max_load=10, min_load=4)
    with pytest.raises(InvalidAnswers, match="at least 4"):
        update_reviewer_profile(user, [], "", 3, "", now=NOW)


def test_only_reviewers_have_a_profile(app) -> None:
    with pytest.raises(NotAllowed):
        update_reviewer_profile(make_applicant(), [], "", 3, "", now=NOW)
