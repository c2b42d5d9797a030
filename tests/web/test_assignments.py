"""The managers' assignment board: the page, assigning by hand and automatically, unassigning,
recording conflicts, refusals with their reasons, access and unknown ids."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    AuditEvent,
    Call,
    Conflict,
    OutboundEmail,
    ProgrammeScope,
    Review,
    User,
)
from tests.conftest import csrf_token
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer
from tests.support.statements import statements_sent

DEADLINE = dt.datetime(2027, 3, 1, 11, 0, tzinfo=dt.UTC)


@pytest.fixture
def call(app: Flask) -> Call:
    return make_call(review_deadline=DEADLINE, reviewers_per_application=1, title="Spring intake 2027")


def application(call: Call, name: str, state: str = "submitted", **fields: Any) -> Application:
    slug = name.lower().replace(" ", "")
    values = {"company_name": name, "website": f"https://{slug}.example", **fields}
    return make_application(make_applicant(), call, state=state, complete=True, **values)


def page_url(call: Call) -> str:
    return f"/manage/calls/{call.id}/assignments"


def post(client: FlaskClient, url: str, call: Call, **data: Any) -> Any:
    """Post a form of the board; every form there shares the session's CSRF token."""
    token = csrf_token(client, page_url(call))
    fields = {key.replace("__", "-"): value for key, value in data.items()}
    fields.update({"csrf_token": token, "assign-csrf_token": token, "auto-csrf_token": token,
                   "conflict-csrf_token": token})
    return client.post(url, data=fields)


def assign(client: FlaskClient, call: Call, application: Application, reviewer: User) -> Any:
    return post(client, page_url(call), call, assign__application_id=application.id, assign__reviewer_id=reviewer.id)


def assigned(application: Application) -> set[int]:
    return set(db.session.scalars(select(Assignment.reviewer_id).where(Assignment.application_id == application.id)))


# ---------------------------------------------------------------------------------- the page


def test_board_shows_applications_reviewers_loads_and_conflicts(manager_client: FlaskClient, call: Call) -> None:
    alpha, beta = application(call, "Alpha Onc"), application(call, "Beta Rad")
    application(call, "Draft Co", state="draft")
    rita, odd = make_reviewer(max_load=4, focus_areas=["medtech"]), make_reviewer()
    make_assignment(alpha, rita)
    db.session.add(Conflict(reviewer_id=odd.id, application_id=beta.id, reason="Former colleague",
                            source="declared"))
    db.session.commit()

    response = manager_client.get(page_url(call))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Alpha Onc" in page and "Beta Rad" in page and "Draft Co" not in page
    assert rita.name in page and "1 / 4" in page and "Medtech" in page  # the reviewers' table shows room left
    assert "Former colleague" in page
    assert f"/manage/assignments/{db.session.scalar(select(Assignment.id))}/delete" in page
    keep_existing = re.search(r'<input[^>]*name="auto-keep_existing"[^>]*>', page).group(0)
    assert "checked" in keep_existing  # keep existing assignments unless the manager says otherwise


def test_admin_opens_the_board_too(admin_client: FlaskClient, call: Call) -> None:
    assert admin_client.get(page_url(call)).status_code == 200


# ---------------------------------------------------------------------------------- by hand


def test_manager_assigns_a_reviewer_by_hand(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()

    response = assign(manager_client, call, alpha, rita)

    assert response.status_code == 302 and response.headers["Location"] == page_url(call)
    assert assigned(alpha) == {rita.id}
    db.session.refresh(alpha)
    assert alpha.state == "under_review"
    assert db.session.scalar(select(OutboundEmail.to_address)) == rita.email
    assert f"{rita.name} now reviews Alpha Onc." in manager_client.get(page_url(call)).get_data(as_text=True)


def test_assigning_a_conflicted_pair_is_refused_with_the_reason(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()
    db.session.add(Conflict(reviewer_id=rita.id, application_id=alpha.id, reason="Her husband's company",
                            source="declared"))
    db.session.commit()

    response = assign(manager_client, call, alpha, rita)

    assert response.status_code == 409
    assert "Her husband&#39;s company" in response.get_data(as_text=True)
    assert assigned(alpha) == set()


def test_assigning_across_a_detected_email_domain_conflict_is_refused(manager_client: FlaskClient, call: Call,
                                                                       make_user: Any) -> None:
    target = application(call, "TumourTech AS", website="https://tumourtech.no")
    anna = make_user(Role.REVIEWER, email="anna@tumourtech.no")

    response = assign(manager_client, call, target, anna)

    assert response.status_code == 409
    assert "email domain tumourtech.no" in response.get_data(as_text=True)


def test_assigning_twice_is_refused(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()
    make_assignment(alpha, rita)

    response = assign(manager_client, call, alpha, rita)

    assert response.status_code == 409
    assert "already assigned" in response.get_data(as_text=True)


def test_assigning_above_max_load_is_refused_naming_the_load(manager_client: FlaskClient, call: Call) -> None:
    alpha, beta, rita = application(call, "Alpha Onc"), application(call, "Beta Rad"), make_reviewer(max_load=1)
    make_assignment(alpha, rita)

    response = assign(manager_client, call, beta, rita)

    assert response.status_code == 400
    assert "already reviews 1 applications in this call, their maximum of 1" in response.get_data(as_text=True)
    assert assigned(beta) == set()


def test_assigning_needs_both_choices_and_refuses_foreign_ids(manager_client: FlaskClient, call: Call,
                                                               make_user: Any) -> None:
    alpha = application(call, "Alpha Onc")
    other_call_app = application(make_call(), "Elsewhere")
    manager = make_user(Role.MANAGER)

    empty = post(manager_client, page_url(call), call, assign__application_id="", assign__reviewer_id="")
    foreign = post(manager_client, page_url(call), call, assign__application_id=other_call_app.id,
                   assign__reviewer_id=manager.id)
    garbage = post(manager_client, page_url(call), call, assign__application_id="x", assign__reviewer_id="1")

    assert empty.status_code == 400 and "Choose an application." in empty.get_data(as_text=True)
    assert foreign.status_code == 400
    assert "Choose an application of this call" in foreign.get_data(as_text=True)
    assert "Choose one of the active reviewers." in foreign.get_data(as_text=True)
    assert garbage.status_code == 400
    assert assigned(alpha) == set() and assigned(other_call_app) == set()


def test_assigning_without_csrf_token_is_refused(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()
    response = manager_client.post(page_url(call), data={"assign-application_id": alpha.id,
                                                         "assign-reviewer_id": rita.id})
    assert response.status_code == 400
    assert assigned(alpha) == set()


# ---------------------------------------------------------------------------- automatically


def test_automatic_assignment_fills_the_call_and_reports(manager_client: FlaskClient, call: Call) -> None:
    apps = [application(call, name) for name in ("Alpha Onc", "Beta Rad", "Gamma Dx")]
    rita = make_reviewer(max_load=2)

    response = post(manager_client, f"{page_url(call)}/auto", call, auto__keep_existing="y")

    assert response.status_code == 302
    assert sum(len(assigned(a)) for a in apps) == 2
    page = manager_client.get(page_url(call)).get_data(as_text=True)
    assert "2 assignments made. 1 reviewer emailed." in page
    assert "Not enough reviewers without a conflict or with free capacity for:" in page
    [email] = db.session.scalars(select(OutboundEmail).where(OutboundEmail.to_address == rita.email)).all()
    assert email.kind == "review_assignments"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "assignment.auto_run")) is not None


def test_automatic_assignment_unticked_replaces_unstarted_assignments(manager_client: FlaskClient, call: Call) -> None:
    alpha = application(call, "Alpha Onc", focus_area="medtech")
    stale = make_reviewer(max_load=1)
    better = make_reviewer(max_load=1, focus_areas=["medtech"])
    make_assignment(alpha, stale)

    kept = post(manager_client, f"{page_url(call)}/auto", call, auto__keep_existing="y")
    assert kept.status_code == 302 and assigned(alpha) == {stale.id}

    replaced = post(manager_client, f"{page_url(call)}/auto", call)  # box unticked

    assert replaced.status_code == 302
    assert assigned(alpha) == {better.id}


# ------------------------------------------------------------------------------- unassigning


def test_manager_unassigns_a_reviewer(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()
    assignment = make_assignment(alpha, rita)

    response = post(manager_client, f"/manage/assignments/{assignment.id}/delete", call)

    assert response.status_code == 302 and response.headers["Location"] == page_url(call)
    assert assigned(alpha) == set()


def test_unassigning_after_a_submitted_review_is_refused(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()
    assignment = make_assignment(alpha, rita)
    db.session.add(Review(application_id=alpha.id, reviewer_id=rita.id, state="submitted",
                          submitted_at=DEADLINE))
    db.session.commit()

    response = post(manager_client, f"/manage/assignments/{assignment.id}/delete", call)

    assert response.status_code == 409
    assert "already submitted their review" in response.get_data(as_text=True)
    assert assigned(alpha) == {rita.id}


# -------------------------------------------------------------------------------- conflicts


def test_manager_records_a_company_wide_conflict_which_removes_the_assignment(manager_client: FlaskClient,
                                                                               call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()
    make_assignment(alpha, rita)

    response = post(manager_client, f"/manage/calls/{call.id}/conflicts", call, conflict__application_id=alpha.id,
                    conflict__reviewer_id=rita.id, conflict__reason="Shareholder", conflict__whole_company="y")

    assert response.status_code == 302
    conflict = db.session.scalar(select(Conflict))
    assert (conflict.source, conflict.application_id, conflict.org_number, conflict.reason) == (
        "manager", None, alpha.org_number, "Shareholder")
    assert assigned(alpha) == set()
    assert assign(manager_client, call, alpha, rita).status_code == 409


def test_conflict_needs_a_reason(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()

    response = post(manager_client, f"/manage/calls/{call.id}/conflicts", call, conflict__application_id=alpha.id,
                    conflict__reviewer_id=rita.id, conflict__reason="  ")

    assert response.status_code == 400
    assert "Say briefly why there is a conflict." in response.get_data(as_text=True)
    assert db.session.scalar(select(Conflict)) is None


# --------------------------------------------------------------------------- access and ids


@pytest.mark.parametrize("who", ["reviewer_client", "applicant_client"])
def test_reviewers_and_applicants_get_403(request: pytest.FixtureRequest, call: Call, who: str) -> None:
    client: FlaskClient = request.getfixturevalue(who)
    alpha = application(call, "Alpha Onc")
    assignment = make_assignment(alpha, make_reviewer())
    token = csrf_token(client, "/password/change")
    assert client.get(page_url(call)).status_code == 403
    for url in (page_url(call), f"{page_url(call)}/auto", f"/manage/assignments/{assignment.id}/delete",
                f"/manage/calls/{call.id}/conflicts"):
        assert client.post(url, data={"csrf_token": token}).status_code == 403, url
    assert assigned(alpha) == {assignment.reviewer_id}


def test_logged_out_visitor_is_sent_to_log_in(client: FlaskClient, call: Call) -> None:
    response = client.get(page_url(call))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_unknown_ids_give_404(manager_client: FlaskClient, call: Call) -> None:
    token = csrf_token(manager_client, page_url(call))
    assert manager_client.get("/manage/calls/9999/assignments").status_code == 404
    for url in ("/manage/calls/9999/assignments", "/manage/calls/9999/assignments/auto",
                "/manage/assignments/9999/delete", "/manage/calls/9999/conflicts"):
        assert manager_client.post(url, data={"csrf_token": token}).status_code == 404, url


# ------------------------------------------------------------------- bounded pages and search


def row_ids(page: str, kind: str) -> list[int]:
    return [int(found) for found in re.findall(rf'<tr id="{kind}-(\d+)"', page)]


def test_no_page_lists_more_than_its_page_size_and_next_walks_the_rest(manager_client: FlaskClient,
                                                                        call: Call) -> None:
    applications = [application(call, f"Company {n:02d}") for n in range(53)]
    reviewers = [make_reviewer() for _ in range(27)]

    first = manager_client.get(page_url(call)).get_data(as_text=True)
    following = re.search(r'id="applications-next" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = manager_client.get(following).get_data(as_text=True)
    more_reviewers = re.search(r'id="reviewers-next" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    reviewers_two = manager_client.get(more_reviewers).get_data(as_text=True)

    assert row_ids(first, "application") == [a.id for a in applications[:50]]
    assert row_ids(second, "application") == [a.id for a in applications[50:]]
    assert 'id="applications-next"' not in second and "First page" in second
    assert len(row_ids(first, "reviewer")) == 25
    assert set(row_ids(first, "reviewer")) | set(row_ids(reviewers_two, "reviewer")) == {r.id for r in reviewers}
    assert row_ids(reviewers_two, "application") == row_ids(first, "application")  # the other list stays put


def test_board_searches_and_filters_on_the_server(manager_client: FlaskClient, call: Call) -> None:
    alpha, beta = application(call, "Alpha Onc"), application(call, "Beta Rad")
    decided = application(call, "Gamma Dx", state="accepted")
    rita, other = make_reviewer(), make_reviewer()
    make_assignment(alpha, rita)

    def shown(query: str) -> list[int]:
        response = manager_client.get(f"{page_url(call)}?{query}")
        assert response.status_code == 200
        return row_ids(response.get_data(as_text=True), "application")

    assert shown("q=rad") == [beta.id]
    assert shown(f"q=%23{decided.id}") == [decided.id]
    assert shown("state=accepted") == [decided.id]
    assert shown("missing=1") == [beta.id]  # one reviewer per application: Alpha has its reviewer
    assert "No application matches." in manager_client.get(f"{page_url(call)}?q=zzz").get_data(as_text=True)
    found = manager_client.get(f"{page_url(call)}?rq={other.email}").get_data(as_text=True)
    assert row_ids(found, "reviewer") == [other.id]


@pytest.mark.parametrize("query", ["after=x", "after=99999999999", "reviewers_after=-1", "pick=1e3"])
def test_malformed_positions_are_refused_with_400(manager_client: FlaskClient, call: Call, query: str) -> None:
    assert manager_client.get(f"{page_url(call)}?{query}").status_code == 400


def test_suggestions_offer_matching_applications_and_reviewers(manager_client: FlaskClient, call: Call,
                                                               make_user: Any) -> None:
    alpha = application(call, "Alpha Onc")
    application(call, "Alpha Decided", state="rejected")
    rita = make_reviewer()
    make_user(Role.MANAGER, email="alpha.manager@example.com")

    apps = manager_client.get(f"{page_url(call)}/applications.json?q=alpha").get_json()
    people = manager_client.get(f"{page_url(call)}/reviewers.json?q={rita.email[:12]}").get_json()

    assert apps == [{"value": f"Alpha Onc (#{alpha.id})", "label": "Submitted"}]
    assert people == [{"value": f"{rita.name} (#{rita.id})", "label": rita.email}]
    assert manager_client.get(f"{page_url(call)}/reviewers.json?q=alpha.manager").get_json() == []
    assert manager_client.get("/manage/calls/9999/assignments/applications.json?q=a").status_code == 404


def test_assigning_works_without_javascript_by_name_and_email(manager_client: FlaskClient, call: Call) -> None:
    alpha, rita = application(call, "Alpha Onc"), make_reviewer()

    response = post(manager_client, page_url(call), call, assign__application_id="alpha onc",
                    assign__reviewer_id=rita.email)

    assert response.status_code == 302 and assigned(alpha) == {rita.id}


def test_assign_link_beside_an_application_fills_in_the_forms(manager_client: FlaskClient, call: Call) -> None:
    alpha = application(call, "Alpha Onc")
    page = manager_client.get(page_url(call)).get_data(as_text=True)
    assert f"pick={alpha.id}" in page

    picked = manager_client.get(f"{page_url(call)}?pick={alpha.id}").get_data(as_text=True)

    assert re.search(rf'name="assign-application_id"[^>]*value="Alpha Onc \(#{alpha.id}\)"', picked)
    assert re.search(rf'name="conflict-application_id"[^>]*value="Alpha Onc \(#{alpha.id}\)"', picked)


def statements_for(client: FlaskClient, url: str) -> int:
    with statements_sent() as executed:
        assert client.get(url).status_code == 200
    return len(executed)


def test_the_board_costs_the_same_statements_for_a_small_and_a_larger_call(manager_client: FlaskClient,
                                                                          call: Call) -> None:
    """Per-row reviewers, review states and conflicts (with their reviewers) come in one query
    each for the page, not one per row."""
    def grow(count: int) -> None:
        for _ in range(count):
            target, reviewer = application(call, f"Company {make_reviewer().id}"), make_reviewer()
            make_assignment(target, reviewer)
            db.session.add(Conflict(reviewer_id=make_reviewer().id, application_id=target.id, reason="Board member",
                                    source="declared"))
        db.session.commit()

    grow(2)
    small = statements_for(manager_client, page_url(call))
    grow(30)
    larger = statements_for(manager_client, page_url(call))

    assert small == larger


def test_a_programme_limited_reviewer_is_neither_suggested_nor_assignable_outside_their_programmes(
        manager_client: FlaskClient, call: Call) -> None:
    occ, bvh = (entry.programme for entry in call.programmes)
    oslo_only, hub_bound = application(call, "Oslo Only Onc"), application(call, "Hub Bound Bio")
    hub_bound.preferences[0].programme_id = bvh.id
    hub, anyone = make_reviewer(), make_reviewer()
    db.session.add(ProgrammeScope(user_id=hub.id, programme_id=bvh.id))
    db.session.commit()

    def suggested(for_application: Application | None) -> set[int]:
        extra = f"&for=%23{for_application.id}" if for_application else ""
        found = manager_client.get(f"{page_url(call)}/reviewers.json?q=reviewer{extra}").get_json()
        return {int(re.search(r"#(\d+)", item["value"]).group(1)) for item in found}

    assert {hub.id, anyone.id} <= suggested(None)  # the call offers BioVentureHub's programme
    assert hub.id not in suggested(oslo_only) and anyone.id in suggested(oslo_only)
    assert {hub.id, anyone.id} <= suggested(hub_bound)
    board = manager_client.get(page_url(call)).get_data(as_text=True)
    assert 'data-suggest-for="assign-application_id"' in board

    refused = assign(manager_client, call, oslo_only, hub)
    assert refused.status_code == 409
    assert "reviews only for BioVentureHub exchange" in refused.get_data(as_text=True)
    assert assigned(oslo_only) == set()
    assert assign(manager_client, call, hub_bound, hub).status_code == 302
    assert assigned(hub_bound) == {hub.id}
