"""The assignments service on a real database: automatic assignment (demand, loads, conflicts,
affinity, keeping what exists, shortfalls, emails, state), assignment by hand, unassigning,
and the board's first page (tests/integration/test_assignment_board.py has the rest)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    AuditEvent,
    Call,
    Conflict,
    OutboundEmail,
    ProgrammePreference,
    ProgrammeScope,
    Review,
    User,
)
from incubator.services import ServiceError
from incubator.services.assignment_board import BoardFilter, application_page, reviewer_page
from incubator.services.assignments import (
    AssignmentRefused,
    assign_reviewer,
    auto_assign,
    reviewer_pool,
    unassign_reviewer,
)
from incubator.services.conflicts import set_conflict_by_manager
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer

NOW = utcnow()
DEADLINE = dt.datetime(2027, 3, 1, 11, 0, tzinfo=dt.UTC)  # 12:00 CET in Oslo

IMMUNO = {
    "focus_area": "immuno_oncology",
    "project_summary": "A personalised cancer vaccine that primes T cells against tumour neoantigens.",
    "unmet_need": "Most patients do not respond to checkpoint inhibitors.",
    "team": "Immunologists from the Radium Hospital.",
}
MEDTECH = {
    "focus_area": "medtech",
    "project_summary": "A handheld surgical device that finds tumour margins during breast surgery.",
    "unmet_need": "One in five breast operations must be repeated.",
    "team": "Engineers and a breast surgeon.",
}


@pytest.fixture(autouse=True)
def request_context(app: Flask) -> Iterator[None]:
    """Emails are rendered with url_for, as inside a request."""
    with app.test_request_context():
        yield


@pytest.fixture
def manager(make_user: Any) -> User:
    return make_user(Role.MANAGER)


@pytest.fixture
def call(app: Flask) -> Call:
    return make_call(review_deadline=DEADLINE, reviewers_per_application=2, title="Spring intake 2027")


def application(call: Call, name: str, state: str = "submitted", **fields: Any) -> Application:
    """A complete application of a company with its own name and web domain."""
    slug = name.lower().replace(" ", "")
    values = {"company_name": name, "website": f"https://{slug}.example", **fields}
    return make_application(make_applicant(), call, state=state, complete=True, **values)


def review(application: Application, reviewer: User, state: str) -> Review:
    row = Review(application_id=application.id, reviewer_id=reviewer.id, state=state,
                 submitted_at=utcnow() if state == "submitted" else None)
    db.session.add(row)
    db.session.commit()
    return row


def assigned(application: Application) -> set[int]:
    return set(db.session.scalars(select(Assignment.reviewer_id).where(Assignment.application_id == application.id)))


def loads() -> Counter[int]:
    return Counter(db.session.scalars(select(Assignment.reviewer_id)))


def emails_to(user: User) -> list[OutboundEmail]:
    return list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == user.email)
                                   .order_by(OutboundEmail.id)))


# ------------------------------------------------------------------------ auto: demand and loads


def test_auto_assign_gives_every_application_its_reviewers_within_max_load(manager: User, call: Call) -> None:
    applications = [application(call, f"Company {n}") for n in range(5)]
    reviewers = [make_reviewer(max_load=2) for _ in range(5)]  # capacity 10 = demand 10

    report = auto_assign(manager, call, now=NOW)
    db.session.commit()

    assert [len(assigned(a)) for a in applications] == [2] * 5
    assert report.created == 10 and report.unfilled == [] and report.underloaded == []
    assert all(loads()[r.id] <= 2 for r in reviewers)
    rows = db.session.scalars(select(Assignment)).all()
    assert {(row.source, row.due_at, row.assigned_by_id) for row in rows} == {("auto", DEADLINE, manager.id)}
    assert all(row.affinity is not None and 0.0 <= row.affinity <= 1.0 for row in rows)


def test_auto_assign_respects_load_already_taken_in_the_call(manager: User, call: Call) -> None:
    first, second = application(call, "Alpha"), application(call, "Beta")
    busy = make_reviewer(max_load=1)
    make_assignment(first, busy)  # busy is full in this call
    free = [make_reviewer(max_load=5) for _ in range(2)]

    auto_assign(manager, call, now=NOW)

    assert loads()[busy.id] == 1
    assert assigned(first) == {busy.id, free[0].id} or assigned(first) == {busy.id, free[1].id}
    assert assigned(second) == {free[0].id, free[1].id}


def test_reviewer_without_profile_counts_with_default_max_load(manager: User, call: Call, make_user: Any) -> None:
    call.reviewers_per_application = 1
    applications = [application(call, f"Company {n}") for n in range(12)]
    bare = make_user(Role.REVIEWER)

    report = auto_assign(manager, call, now=NOW)

    assert loads()[bare.id] == 10
    assert [s.missing for s in report.unfilled] == [1, 1]
    assert sum(len(assigned(a)) for a in applications) == 10


def test_inactive_reviewers_and_other_roles_are_not_assigned(manager: User, call: Call, make_user: Any) -> None:
    only = application(call, "Alpha")
    make_user(Role.REVIEWER, active=False)
    make_user(Role.ADMIN)
    active = make_reviewer()

    auto_assign(manager, call, now=NOW)

    assert assigned(only) == {active.id}


def test_drafts_withdrawn_and_decided_applications_get_no_reviewers(manager: User, call: Call) -> None:
    skipped = [application(call, "Draft Co", state="draft"), application(call, "Gone Co", state="withdrawn"),
               application(call, "Done Co", state="accepted")]
    waiting = application(call, "Waiting Co")
    make_reviewer(), make_reviewer()

    auto_assign(manager, call, now=NOW)

    assert [assigned(a) for a in skipped] == [set(), set(), set()]
    assert len(assigned(waiting)) == 2


def test_min_load_shortfall_is_reported(manager: User, call: Call) -> None:
    call.reviewers_per_application = 1
    application(call, "Alpha")
    keen = make_reviewer(min_load=3, max_load=5)

    report = auto_assign(manager, call, now=NOW)

    assert [(s.id, s.missing) for s in report.underloaded] == [(keen.id, 2)]


# ----------------------------------------------------------------------------- auto: conflicts


def test_auto_assign_never_assigns_across_any_kind_of_conflict(manager: User, call: Call, make_user: Any) -> None:
    call.reviewers_per_application = 1
    target = application(call, "TumourTech AS", website="https://tumourtech.no", **IMMUNO)
    profile = {"focus_areas": ["immuno_oncology"], "expertise": "T cells, checkpoint inhibitors, cancer vaccines"}
    declared, by_manager, company_wide = (make_reviewer(**profile) for _ in range(3))
    db.session.add_all([
        Conflict(reviewer_id=declared.id, application_id=target.id, reason="Former employer", source="declared"),
        Conflict(reviewer_id=company_wide.id, country=target.country, org_number=target.org_number,
                 reason="Shareholder", source="manager"),
    ])
    db.session.commit()
    set_conflict_by_manager(manager, by_manager, target, "Board member", whole_company=False, now=NOW)
    anna = make_user(Role.REVIEWER, email="anna@tumourtech.no")  # no profile: the weakest match
    outsider = make_user(Role.REVIEWER)

    report = auto_assign(manager, call, now=NOW)
    db.session.commit()

    assert assigned(target) == {outsider.id}
    assert report.conflicts_detected == 1
    detected = db.session.scalar(select(Conflict).where(Conflict.reviewer_id == anna.id))
    assert detected.source == "detected" and detected.application_id == target.id
    assert "tumourtech.no" in detected.reason


def test_every_reviewer_conflicted_leaves_the_application_unfilled(manager: User, call: Call) -> None:
    target = application(call, "Lonely AS")
    reviewer = make_reviewer()
    set_conflict_by_manager(manager, reviewer, target, "Co-founder", whole_company=True, now=NOW)

    report = auto_assign(manager, call, now=NOW)

    assert assigned(target) == set()
    assert [(s.id, s.label, s.missing) for s in report.unfilled] == [(target.id, "Lonely AS", 2)]


# ------------------------------------------------------------------------------ auto: affinity


def test_better_matching_reviewers_are_chosen(manager: User, call: Call) -> None:
    call.reviewers_per_application = 1
    immuno_app, medtech_app = application(call, "Immunix", **IMMUNO), application(call, "Margin", **MEDTECH)
    engineer = make_reviewer(max_load=1, focus_areas=["medtech"],
                             expertise="Biomedical engineer: surgical devices and CE marking.")
    immunologist = make_reviewer(max_load=1, focus_areas=["immuno_oncology"],
                                 expertise="Tumour immunology: T cells, checkpoint inhibitors, cancer vaccines.")

    report = auto_assign(manager, call, now=NOW)

    assert assigned(immuno_app) == {immunologist.id}
    assert assigned(medtech_app) == {engineer.id}
    assert report.total_affinity > 0.8  # two focus matches (0.4 each) plus some text


def test_expertise_decides_between_reviewers_of_the_same_focus(manager: User, call: Call) -> None:
    call.reviewers_per_application = 1
    immuno_app = application(call, "Immunix", **IMMUNO)
    generalist = make_reviewer(focus_areas=["immuno_oncology"], expertise="Business development and licensing.")
    specialist = make_reviewer(focus_areas=["immuno_oncology"], expertise="Cancer vaccines and neoantigens.")

    auto_assign(manager, call, now=NOW)

    assert assigned(immuno_app) == {specialist.id}
    assert generalist.id not in loads()


# ---------------------------------------------------------------------- auto: what exists already


def test_keep_existing_keeps_manual_assignments_and_fills_only_the_gaps(manager: User, call: Call) -> None:
    first, second = application(call, "Alpha"), application(call, "Beta")
    chosen = make_reviewer()
    manual = make_assignment(first, chosen)
    others = [make_reviewer() for _ in range(3)]

    report = auto_assign(manager, call, keep_existing=True, now=NOW)
    db.session.commit()

    assert report.created == 3
    assert chosen.id in assigned(first) and len(assigned(first)) == 2 and len(assigned(second)) == 2
    assert db.session.get(Assignment, manual.id).source == "manual"
    assert {r.id for r in others} >= assigned(first) - {chosen.id}
    again = auto_assign(manager, call, keep_existing=True, now=NOW)
    assert again.created == 0 and again.unfilled == []


def test_replacing_removes_only_assignments_without_a_review(manager: User, call: Call) -> None:
    call.reviewers_per_application = 3
    target = application(call, "Alpha")
    idle, drafting, done = make_reviewer(max_load=0), make_reviewer(max_load=1), make_reviewer(max_load=1)
    for reviewer in (idle, drafting, done):
        make_assignment(target, reviewer)
    review(target, drafting, "draft")
    review(target, done, "submitted")

    report = auto_assign(manager, call, keep_existing=False, now=NOW)
    db.session.commit()

    assert report.removed == 1
    assert assigned(target) == {drafting.id, done.id}  # idle now has max_load 0: no one to refill
    assert [(s.id, s.missing) for s in report.unfilled] == [(target.id, 1)]


def test_replacing_reassigns_without_emailing_the_same_pair_again(manager: User, call: Call) -> None:
    call.reviewers_per_application = 1
    target = application(call, "Alpha")
    reviewer = make_reviewer()
    make_assignment(target, reviewer)

    report = auto_assign(manager, call, keep_existing=False, now=NOW)

    assert report.removed == 1 and report.created == 1
    assert assigned(target) == {reviewer.id}
    assert emails_to(reviewer) == []


# ------------------------------------------------------------------- auto: emails, state, audit


def test_one_email_per_reviewer_lists_all_their_new_applications(manager: User, call: Call) -> None:
    call.reviewers_per_application = 1
    names = ["Gamma Bio", "Alpha Onc", "Beta Rad"]
    for name in names:
        application(call, name)
    busy = make_reviewer(max_load=3, min_load=3)
    idle = make_reviewer(max_load=0)

    report = auto_assign(manager, call, now=NOW)
    db.session.commit()

    assert report.emailed == 1
    [email] = emails_to(busy)
    assert emails_to(idle) == []
    assert email.kind == "review_assignments" and email.subject == "Applications to review: Spring intake 2027"
    body = email.body_text
    assert [body.index(name) for name in sorted(names)] == sorted(body.index(name) for name in names)
    assert "You are asked to review 3 applications in Spring intake 2027" in body
    assert "01 Mar 2027, 12:00 CET" in body  # the deadline in the call's time zone
    assert "http://localhost/review/" in body
    auto_assign(manager, call, now=NOW)  # nothing new: nobody is emailed again
    assert len(emails_to(busy)) == 1


def test_first_assignment_puts_application_under_review_with_audit_event(manager: User, call: Call) -> None:
    fresh = application(call, "Fresh")
    ongoing = application(call, "Ongoing", state="under_review")
    make_reviewer(), make_reviewer()

    auto_assign(manager, call, now=NOW)
    db.session.commit()

    assert (fresh.state, ongoing.state) == ("under_review", "under_review")
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "application.under_review")).all()
    assert [(e.subject_type, e.subject_id, e.actor_id) for e in events] == [("application", fresh.id, manager.id)]
    run = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assignment.auto_run"))
    assert (run.subject_type, run.subject_id) == ("call", call.id)
    assert run.details["created"] == 4 and run.details["keep_existing"] is True


def test_infeasible_demand_is_reported_as_unfilled_not_raised(manager: User, call: Call) -> None:
    call.reviewers_per_application = 3
    first, second = application(call, "Alpha"), application(call, "Beta")
    make_reviewer(), make_reviewer()

    report = auto_assign(manager, call, now=NOW)

    assert report.created == 4
    assert sorted((s.label, s.missing) for s in report.unfilled) == [("Alpha", 1), ("Beta", 1)]
    run = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assignment.auto_run"))
    assert run.details["unfilled"] == {str(first.id): 1, str(second.id): 1}


def test_auto_assign_with_nothing_to_do_reports_zero(manager: User, call: Call) -> None:
    report = auto_assign(manager, call, now=NOW)
    assert (report.created, report.unfilled, report.emailed) == (0, [], 0)


# -------------------------------------------------------------------------------- by hand


def test_manual_assignment_is_stored_audited_emailed_and_starts_review(manager: User, call: Call) -> None:
    target = application(call, "Alpha")
    reviewer = make_reviewer()

    assignment = assign_reviewer(manager, target, reviewer, NOW)
    db.session.commit()

    assert (assignment.source, assignment.due_at, assignment.assigned_by_id) == ("manual", DEADLINE, manager.id)
    assert target.state == "under_review"
    actions = set(db.session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == target.id)))
    assert {"assignment.created", "application.under_review"} <= actions
    [email] = emails_to(reviewer)
    assert "Alpha" in email.body_text


def test_manual_assignment_refuses_a_recorded_conflict_with_its_reason(manager: User, call: Call) -> None:
    target = application(call, "Alpha")
    reviewer = make_reviewer()
    set_conflict_by_manager(manager, reviewer, target, "Sits on the board", whole_company=True, now=NOW)

    with pytest.raises(AssignmentRefused, match="Sits on the board"):
        assign_reviewer(manager, target, reviewer, NOW)


def test_manual_assignment_refuses_an_obvious_conflict(manager: User, call: Call, make_user: Any) -> None:
    target = application(call, "TumourTech AS", website="https://www.tumourtech.no")
    anna = make_user(Role.REVIEWER, email="anna@tumourtech.no")

    with pytest.raises(AssignmentRefused, match="email domain tumourtech.no"):
        assign_reviewer(manager, target, anna, NOW)


def test_manual_assignment_refuses_a_duplicate(manager: User, call: Call) -> None:
    target = application(call, "Alpha")
    reviewer = make_reviewer()
    make_assignment(target, reviewer)

    with pytest.raises(AssignmentRefused, match="already assigned"):
        assign_reviewer(manager, target, reviewer, NOW)


def test_manual_assignment_refuses_above_max_load_naming_it(manager: User, call: Call) -> None:
    first, second = application(call, "Alpha"), application(call, "Beta")
    reviewer = make_reviewer(max_load=1)
    make_assignment(first, reviewer)

    with pytest.raises(ServiceError, match="already reviews 1 applications in this call, their maximum of 1"):
        assign_reviewer(manager, second, reviewer, NOW)


@pytest.mark.parametrize("state", ["draft", "withdrawn", "accepted", "rejected"])
def test_manual_assignment_refuses_applications_not_awaiting_review(manager: User, call: Call, state: str) -> None:
    target = application(call, "Alpha", state=state)
    with pytest.raises(ServiceError, match="Only submitted applications"):
        assign_reviewer(manager, target, make_reviewer(), NOW)


@pytest.mark.parametrize("role, active", [(Role.APPLICANT, True), (Role.MANAGER, True), (Role.REVIEWER, False)])
def test_manual_assignment_refuses_non_reviewers(manager: User, call: Call, make_user: Any,
                                                 role: Role, active: bool) -> None:
    target = application(call, "Alpha")
    with pytest.raises(ServiceError, match="Only active reviewer accounts"):
        assign_reviewer(manager, target, make_user(role, active=active), NOW)


# ------------------------------------------------------------------------------- unassigning


def test_unassign_removes_the_assignment_and_a_draft_review(manager: User, call: Call) -> None:
    target = application(call, "Alpha")
    reviewer = make_reviewer()
    assignment = make_assignment(target, reviewer)
    review(target, reviewer, "draft")

    unassign_reviewer(manager, assignment)
    db.session.commit()

    assert assigned(target) == set()
    assert db.session.scalar(select(func.count()).select_from(Review)) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assignment.removed"))
    assert event.details["reviewer_id"] == reviewer.id and event.details["draft_review_removed"] is True


def test_unassign_is_refused_once_the_review_is_submitted(manager: User, call: Call) -> None:
    target = application(call, "Alpha")
    reviewer = make_reviewer()
    assignment = make_assignment(target, reviewer)
    review(target, reviewer, "submitted")

    with pytest.raises(AssignmentRefused, match="already submitted"):
        unassign_reviewer(manager, assignment)


# -------------------------------------------------------------------------------- overview


def test_overview_lists_reviewers_review_states_conflicts_and_loads(manager: User, call: Call) -> None:
    target, other = application(call, "Alpha"), application(call, "Beta")
    application(call, "Draft Co", state="draft")
    writer, starter, conflicted = make_reviewer(max_load=4), make_reviewer(), make_reviewer()
    make_assignment(target, writer), make_assignment(target, starter), make_assignment(other, writer)
    review(target, writer, "submitted")
    set_conflict_by_manager(manager, conflicted, other, "Investor", whole_company=True, now=NOW)
    db.session.commit()

    applications, reviewers = application_page(call, BoardFilter()), reviewer_page(call)

    assert [row.application.company_name for row in applications.items] == ["Alpha", "Beta"]
    alpha, beta = applications.items
    assert {(a.assignment.reviewer_id, a.review_state) for a in alpha.assigned} == {
        (writer.id, "submitted"), (starter.id, None)}
    assert (alpha.submitted_reviews, alpha.missing, beta.missing) == (1, 0, 1)
    assert [c.reviewer_id for c in beta.conflicts] == [conflicted.id] and alpha.conflicts == []
    by_reviewer = {row.reviewer.user.id: (row.load, row.reviewer.max_load) for row in reviewers.items}
    assert by_reviewer == {writer.id: (2, 4), starter.id: (1, 10), conflicted.id: (0, 10)}
    assert [r.user.id for r in reviewer_pool()] == [row.reviewer.user.id for row in reviewers.items]


# ------------------------------------------------------------------------ programme-limited reviewers


def limited_reviewer(programme_id: int, **profile: Any) -> User:
    reviewer = make_reviewer(**profile)
    db.session.add(ProgrammeScope(user_id=reviewer.id, programme_id=programme_id))
    db.session.commit()
    return reviewer


def test_a_programme_limited_reviewer_is_refused_for_an_application_outside_their_programmes(
        manager: User, call: Call) -> None:
    occ, bvh = (entry.programme for entry in call.programmes)
    oslo_only = application(call, "Oslo Only")  # ranks OCC's programme alone
    hub = limited_reviewer(bvh.id)
    with pytest.raises(AssignmentRefused, match="reviews only for BioVentureHub exchange, and Oslo Only is not"):
        assign_reviewer(manager, oslo_only, hub, NOW)
    assert assigned(oslo_only) == set()
    # Once the startup also ranks BioVentureHub, it is the partner's to review too.
    db.session.add(ProgrammePreference(application_id=oslo_only.id, programme_id=bvh.id, rank=2))
    db.session.commit()
    assign_reviewer(manager, oslo_only, hub, NOW)
    assert assigned(oslo_only) == {hub.id}


def test_auto_assign_gives_a_limited_reviewer_only_applications_of_their_programmes(
        manager: User, call: Call) -> None:
    occ, bvh = (entry.programme for entry in call.programmes)
    call.reviewers_per_application = 1
    oslo = [application(call, f"Oslo {n}") for n in range(3)]
    gothenburg = [application(call, f"Gothenburg {n}") for n in range(2)]
    for entry in gothenburg:
        entry.preferences[0].programme_id = bvh.id
    db.session.commit()
    hub = limited_reviewer(bvh.id, max_load=10, focus_areas=["radiopharmaceuticals"])  # the best match for all
    anyone = make_reviewer(max_load=10)
    auto_assign(manager, call, now=NOW)
    assert all(assigned(entry) == {anyone.id} for entry in oslo)
    assert loads()[hub.id] >= 1 and all(assigned(entry) <= {hub.id, anyone.id} for entry in gothenburg)
