"""Staff scoped to programmes (issue 12 item 3): a BioVentureHub manager and reviewer get 404 or
403 for every OCC-only object on every route of the URL map, see the BioVentureHub share of the
lists, and change nothing of OCC's; unscoped staff keep the whole picture."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from incubator.database import utcnow
from incubator.domain.applications import STEP_SLUGS
from incubator.domain.check_ins import check_in_dates
from incubator.domain.questions import VARIANTS
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Call,
    CallQuestion,
    CallReviewer,
    Offer,
    Programme,
    ProgrammePreference,
    ProgrammeScope,
    Residency,
    ResidencyCheckIn,
    ResidencyReport,
    ResidencySupport,
    Review,
    Slot,
    User,
)
from incubator.services import ranking
from incubator.services.scope import application_scope_clause, limited_to
from tests.conftest import log_in
from tests.factories import make_application, make_call
from tests.factories_reviews import make_assignment, make_rubric
from tests.integration.test_residencies_service import make_slot
from tests.web.test_residencies import slot_form
from tests.web.walk import (
    allowed_roles,
    build_path,
    changed_tables,
    csrf_token_of,
    database_fingerprint,
    routes,
)

OCC_COMPANY = "Oslo Only Therapeutics AS"
BVH_COMPANY = "Gothenburg Bound Bio AS"


@dataclass
class ScopeWorld:
    bvh: Programme
    occ: Programme
    shared_call: Call
    occ_call: Call
    bvh_application: Application
    occ_application: Application
    occ_arguments: dict[str, str]  # path arguments naming OCC-only objects


def _scoped_client(app: Flask, make_user: Callable[..., User], role: Role, programme: Programme) -> FlaskClient:
    user = make_user(role)
    db.session.add(ProgrammeScope(user_id=user.id, programme_id=programme.id))
    db.session.commit()
    client = app.test_client()
    assert log_in(client, user.email).status_code == 302
    client.user = user  # type: ignore[attr-defined]
    return client


@pytest.fixture
def scoped_manager(app: Flask, make_user: Callable[..., User], world: ScopeWorld) -> FlaskClient:
    return _scoped_client(app, make_user, Role.MANAGER, world.bvh)


@pytest.fixture
def scoped_reviewer(app: Flask, make_user: Callable[..., User], world: ScopeWorld) -> FlaskClient:
    client = _scoped_client(app, make_user, Role.REVIEWER, world.bvh)
    reviewer = client.user  # type: ignore[attr-defined]
    make_assignment(world.bvh_application, reviewer)
    make_assignment(world.occ_application, reviewer)  # assigned, yet out of their scope
    db.session.add(Review(application_id=world.occ_application.id, reviewer_id=reviewer.id, state="draft"))
    db.session.commit()
    return client


@pytest.fixture
def world(app: Flask, make_user: Callable[..., User]) -> ScopeWorld:
    """A call offering both programmes with one application for each, and a call offering only
    OCC's with its own slot, offer, residency, question and reviewer pool."""
    shared_call = make_call()
    make_rubric(shared_call)
    occ, bvh = (entry.programme for entry in shared_call.programmes)
    occ_call = make_call()
    occ_call.programmes.pop(1)  # OCC's alone
    db.session.commit()
    bvh_application = make_application(make_user(), shared_call, state="submitted", complete=True,
                                       company_name=BVH_COMPANY)
    bvh_application.preferences[0].programme_id = bvh.id
    occ_application = make_application(make_user(), shared_call, state="accepted", complete=True,
                                       company_name=OCC_COMPANY, decision_released_at=utcnow())
    occ_call_application = make_application(make_user(), occ_call, state="accepted", complete=True,
                                            company_name=OCC_COMPANY, decision_released_at=utcnow())
    occ_slot = make_slot(shared_call, programme=0, capacity=3)
    make_slot(shared_call, programme=1, capacity=2, label="BVH lab benches")
    now = utcnow()
    start, end = dt.date(2027, 1, 1), dt.date(2028, 1, 1)
    accepted = Offer(application=occ_application, slot=occ_slot, state="accepted", starts_on=start, ends_on=end,
                     response_deadline=now, offered_at=now, responded_at=now)
    open_offer = Offer(application=occ_call_application, slot=occ_slot, state="offered", starts_on=start,
                       ends_on=end, response_deadline=now + dt.timedelta(days=7), offered_at=now)
    db.session.add_all([accepted, open_offer])
    db.session.flush()
    residency = Residency(application=occ_application, offer=accepted, slot=occ_slot, starts_on=start, ends_on=end)
    question = CallQuestion(call_id=occ_call.id, variant=VARIANTS[0], label="Why Oslo?")
    pool_entry = CallReviewer(call_id=occ_call.id, reviewer_id=make_user(Role.REVIEWER).id)
    db.session.add_all([residency, question, pool_entry])
    db.session.commit()
    assignment = make_assignment(occ_application, make_user(Role.REVIEWER))
    return ScopeWorld(
        bvh=bvh, occ=occ, shared_call=shared_call, occ_call=occ_call, bvh_application=bvh_application,
        occ_application=occ_application,
        occ_arguments={
            "application_id": str(occ_application.id), "call_id": str(occ_call.id), "slug": occ_call.slug,
            "slot_id": str(occ_slot.id), "offer_id": str(open_offer.id), "residency_id": str(residency.id),
            "assignment_id": str(assignment.id), "attachment_id": str(occ_application.attachments[0].id),
            "programme_id": str(occ.id), "question_id": str(question.id), "entry_id": str(pool_entry.id),
            "direction": "up", "step": STEP_SLUGS[0],
        },
    )


def _occ_only_rules(app: Flask, role: Role) -> list[tuple[str, str, str]]:
    """(endpoint, method, path) of every rule the role may use whose every argument names an
    OCC-only object."""
    found = []
    for rule, method in routes(app):
        if not rule.arguments or role not in allowed_roles(app, rule.endpoint):
            continue
        if not rule.arguments <= set(_ARGUMENT_NAMES):
            continue
        found.append((rule.endpoint, method, rule.rule))
    return found


_ARGUMENT_NAMES = ("application_id", "call_id", "slug", "slot_id", "offer_id", "residency_id", "assignment_id",
                   "attachment_id", "programme_id", "question_id", "entry_id", "direction", "step")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.REVIEWER])
def test_scoped_staff_get_404_or_403_for_every_occ_only_object_and_change_nothing(
        app: Flask, world: ScopeWorld, scoped_manager: FlaskClient, scoped_reviewer: FlaskClient,
        role: Role) -> None:
    client = scoped_manager if role is Role.MANAGER else scoped_reviewer
    token = csrf_token_of(client)
    walked = set()
    for endpoint, method, rule_text in _occ_only_rules(app, role):
        path = build_path(rule_text, world.occ_arguments)
        before = database_fingerprint()
        response = client.get(path) if method == "GET" else client.post(path, data={"csrf_token": token})
        assert response.status_code in (403, 404), (endpoint, method, path, response.status_code)
        assert changed_tables(before, database_fingerprint()) == [], (endpoint, method)
        walked.add(endpoint)
    if role is Role.MANAGER:
        assert {"manage.call_hub", "manage.ranking", "manage.committee_view", "manage.decide", "manage.edit_slot",
                "manage.withdraw_offer", "manage.end_residency", "manage.edit_programme"} <= walked
    else:
        assert {"review.application", "review.declare_conflict", "review.bids"} <= walked


def test_scoped_manager_sees_the_bioventurehub_share_of_every_list(
        world: ScopeWorld, scoped_manager: FlaskClient, manager_client: FlaskClient) -> None:
    shared = world.shared_call.id
    for path in (f"/manage/calls/{shared}/ranking", f"/manage/calls/{shared}/decisions",
                 f"/manage/calls/{shared}/assignments", f"/manage/calls/{shared}/ranking.csv"):
        scoped_page = scoped_manager.get(path)
        assert scoped_page.status_code == 200, path
        assert BVH_COMPANY in scoped_page.get_data(as_text=True), path
        assert OCC_COMPANY not in scoped_page.get_data(as_text=True), path
        whole = manager_client.get(path).get_data(as_text=True)
        assert BVH_COMPANY in whole and OCC_COMPANY in whole, path
    calls = scoped_manager.get("/manage/calls").get_data(as_text=True)
    assert world.shared_call.title in calls and world.occ_call.title not in calls
    slots = scoped_manager.get("/manage/slots").get_data(as_text=True)
    assert "BVH lab benches" in slots and "OCC Incubator office_lab" not in slots
    residencies = scoped_manager.get("/manage/residencies").get_data(as_text=True)
    assert OCC_COMPANY not in residencies
    assert OCC_COMPANY in manager_client.get("/manage/residencies").get_data(as_text=True)


def test_scoped_reviewer_lists_only_bioventurehub_assignments(world: ScopeWorld,
                                                               scoped_reviewer: FlaskClient) -> None:
    page = scoped_reviewer.get("/review/").get_data(as_text=True)
    assert BVH_COMPANY in page and OCC_COMPANY not in page
    assert scoped_reviewer.get(f"/review/applications/{world.bvh_application.id}").status_code == 200
    assert scoped_reviewer.get(f"/review/applications/{world.occ_application.id}").status_code == 404


def test_a_scope_changed_by_an_administrator_counts_from_the_next_request(
        world: ScopeWorld, scoped_reviewer: FlaskClient) -> None:
    """The scope rows come with the session record (one statement, one row per programme):
    a changed scope shows on the very next page, for one programme, two, or none."""
    reviewer = scoped_reviewer.user  # type: ignore[attr-defined]
    assert OCC_COMPANY not in scoped_reviewer.get("/review/").get_data(as_text=True)
    db.session.add(ProgrammeScope(user_id=reviewer.id, programme_id=world.occ.id))
    db.session.commit()
    both = scoped_reviewer.get("/review/").get_data(as_text=True)
    assert BVH_COMPANY in both and OCC_COMPANY in both
    db.session.execute(delete(ProgrammeScope).where(ProgrammeScope.user_id == reviewer.id,
                                                    ProgrammeScope.programme_id == world.bvh.id))
    db.session.commit()
    occ_only = scoped_reviewer.get("/review/").get_data(as_text=True)
    assert OCC_COMPANY in occ_only and BVH_COMPANY not in occ_only
    db.session.execute(delete(ProgrammeScope).where(ProgrammeScope.user_id == reviewer.id))
    db.session.commit()
    unscoped = scoped_reviewer.get("/review/").get_data(as_text=True)
    assert BVH_COMPANY in unscoped and OCC_COMPANY in unscoped
    db.session.add(ProgrammeScope(user_id=reviewer.id, programme_id=world.bvh.id))
    db.session.commit()
    assert OCC_COMPANY not in scoped_reviewer.get("/review/").get_data(as_text=True)


def test_scoped_manager_decides_on_their_own_but_whole_call_actions_need_the_whole_picture(
        world: ScopeWorld, scoped_manager: FlaskClient) -> None:
    token = csrf_token_of(scoped_manager)
    shared = world.shared_call.id
    world.shared_call.state = "deciding"
    db.session.commit()
    decided = scoped_manager.post(f"/manage/applications/{world.bvh_application.id}/decision",
                                  data={"csrf_token": token, "decision": "accepted", "message": "Welcome."})
    assert decided.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, world.bvh_application.id).state == "accepted"
    refused = scoped_manager.post(f"/manage/calls/{shared}/decisions/release", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "limited to some programmes" in refused.get_data(as_text=True)
    assert "does not have the role" not in refused.get_data(as_text=True)  # the role is right; the scope is not
    assert scoped_manager.post(f"/manage/calls/{shared}/match/compute", data={"csrf_token": token}).status_code == 403


def test_an_application_ranking_both_programmes_is_seen_by_both(
        app: Flask, world: ScopeWorld, scoped_manager: FlaskClient) -> None:
    db.session.add(ProgrammePreference(application_id=world.occ_application.id, programme_id=world.bvh.id, rank=2))
    db.session.commit()
    assert scoped_manager.get(f"/manage/applications/{world.occ_application.id}/committee").status_code == 200


def test_admin_and_unscoped_staff_are_never_limited(app: Flask, world: ScopeWorld, make_user: Callable[..., User],
                                                    manager_client: FlaskClient, admin_client: FlaskClient) -> None:
    admin = admin_client.user  # type: ignore[attr-defined]
    db.session.add(ProgrammeScope(user_id=admin.id, programme_id=world.bvh.id))  # ignored for administrators
    db.session.commit()
    assert manager_client.get(f"/manage/calls/{world.occ_call.id}").status_code == 200
    assert admin_client.get(f"/manage/calls/{world.occ_call.id}").status_code == 200


def test_outside_requests_nothing_is_limited(app: Flask, world: ScopeWorld, scoped_manager: FlaskClient) -> None:
    """The scheduler and the command line see everything; so do the test's own queries."""
    names = set(db.session.scalars(select(Application.company_name)))
    assert {OCC_COMPANY, BVH_COMPANY} <= names
    assert len(ranking.ranking_positions(world.shared_call)) >= 0
    assert str(application_scope_clause(Application.id)) == "true"


def test_administrator_limits_a_manager_to_programmes_on_the_account_page(
        app: Flask, world: ScopeWorld, make_user: Callable[..., User], admin_client: FlaskClient) -> None:
    manager = make_user(Role.MANAGER)
    page = admin_client.get(f"/admin/users/{manager.id}")
    assert page.status_code == 200 and "Limited to programmes" in page.get_data(as_text=True)
    token = csrf_token_of(admin_client)
    saved = admin_client.post(f"/admin/users/{manager.id}", data={
        "csrf_token": token, "role": "manager", "active": "y", "programmes": [str(world.bvh.id)]})
    assert saved.status_code == 302
    assert set(db.session.scalars(select(ProgrammeScope.programme_id).where(ProgrammeScope.user_id == manager.id))) \
        == {world.bvh.id}
    client = app.test_client()
    log_in(client, manager.email)
    assert client.get(f"/manage/calls/{world.occ_call.id}").status_code == 404
    assert client.get(f"/manage/calls/{world.shared_call.id}").status_code == 200

    cleared = admin_client.post(f"/admin/users/{manager.id}", data={"csrf_token": token, "role": "manager",
                                                                      "active": "y"})
    assert cleared.status_code == 302
    assert client.get(f"/manage/calls/{world.occ_call.id}").status_code == 200  # the next request knows


def test_only_managers_and_reviewers_can_be_limited(world: ScopeWorld, make_user: Callable[..., User],
                                                     admin_client: FlaskClient) -> None:
    applicant = make_user(Role.APPLICANT)
    refused = admin_client.post(f"/admin/users/{applicant.id}", data={
        "csrf_token": csrf_token_of(admin_client), "role": "applicant", "active": "y",
        "programmes": [str(world.bvh.id)]})
    assert refused.status_code == 400
    assert "Only programme managers and reviewers" in refused.get_data(as_text=True)
    assert db.session.scalars(select(ProgrammeScope).where(ProgrammeScope.user_id == applicant.id)).all() == []
    unknown = admin_client.post(f"/admin/users/{applicant.id}", data={
        "csrf_token": csrf_token_of(admin_client), "role": "applicant", "active": "y", "programmes": ["999999"]})
    assert unknown.status_code == 400


def test_the_core_ranking_rows_follow_the_scope(app: Flask, world: ScopeWorld) -> None:
    """The board reads its rows with Core, past the ORM filter; its own clause must keep up."""
    every = {row.company_name for row in ranking.ranking_for_call(world.shared_call)}
    assert {OCC_COMPANY, BVH_COMPANY} <= every
    with limited_to([world.bvh.id]):
        assert {row.company_name for row in ranking.ranking_for_call(world.shared_call)} == {BVH_COMPANY}
    assert {row.company_name for row in ranking.ranking_for_call(world.shared_call)} == every


def test_scoped_manager_makes_slots_only_in_their_programmes(world: ScopeWorld, scoped_manager: FlaskClient) -> None:
    page = scoped_manager.get("/manage/slots/new").get_data(as_text=True)
    choices = re.search(r'<select[^>]*name="programme_id".*?</select>', page, re.S)
    assert choices and ">BioVentureHub exchange<" in choices.group(0) and ">OCC Incubator<" not in choices.group(0)
    token = csrf_token_of(scoped_manager)
    before = db.session.scalar(select(func.count()).select_from(Slot))
    refused = scoped_manager.post("/manage/slots/new", data={**slot_form(world.shared_call, programme_id=str(world.occ.id)),
                                                             "csrf_token": token})
    assert refused.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Slot)) == before
    made = scoped_manager.post("/manage/slots/new", data={**slot_form(world.shared_call, programme_id=str(world.bvh.id),
                                                                    site_id=str(world.bvh.host_site_id)),
                                                          "csrf_token": token})
    assert made.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Slot)) == before + 1


def test_scoped_manager_follows_up_their_own_residents(world: ScopeWorld, scoped_manager: FlaskClient) -> None:
    """Support, membership, check-ins and the report of a BioVentureHub resident are the
    partner's to record (the OCC-only resident's are refused by the URL-map walk above)."""
    today = utcnow().date()
    starts_on = dt.date(today.year - 1, today.month, 1)
    slot = make_slot(world.shared_call, programme=1, starts_on=starts_on, ends_on=starts_on.replace(year=today.year + 2),
                     label="BVH follow-up bench")
    residency = Residency(application=world.bvh_application, slot=slot, starts_on=starts_on,
                          ends_on=starts_on.replace(year=today.year + 1))
    db.session.add(residency)
    db.session.commit()
    page = f"/manage/residencies/{residency.id}"
    assert scoped_manager.get(page).status_code == 200
    token = csrf_token_of(scoped_manager)
    due_on = check_in_dates(residency.starts_on, residency.ends_on)[0]
    posts = {
        "support": {"support-programme": "innovation_norway", "support-status": "applied", "support-amount": "",
                    "support-currency": "NOK", "support-programme_name": ""},
        "membership": {"membership-member_since": f"{starts_on:%Y-%m-%d}"},
        "check-ins": {"checkin-due_on": due_on.isoformat(), "checkin-notes": "On track.", "checkin-milestones": ""},
        "report": {"report-outcomes": "Moved production to Gothenburg.", "report-funding_currency": "NOK"},
    }
    for action, fields in posts.items():
        prefix = next(iter(fields)).split("-")[0]
        response = scoped_manager.post(f"{page}/{action}", data={**fields, f"{prefix}-csrf_token": token})
        assert response.status_code == 302, (action, response.status_code)
    db.session.expire_all()
    assert db.session.get(Residency, residency.id).occ_member_since == starts_on
    assert [row.due_on for row in db.session.scalars(select(ResidencyCheckIn))] == [due_on]
    assert db.session.scalar(select(func.count()).select_from(ResidencySupport)) == 1
    assert db.session.get(ResidencyReport, residency.id) is not None
