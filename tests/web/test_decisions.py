"""Managers decide, in bulk or one by one; decisions stay reversible until released."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, AuditEvent, OutboundEmail, Review
from incubator.services.decisions import DECISIONS_PER_PAGE
from tests.conftest import csrf_token
from tests.factories import make_application, make_call


def decide(client: FlaskClient, application: Application, decision: str, **extra: str):
    data = {"decision": decision, "csrf_token": csrf_token(client, f"/applications/{application.id}"), **extra}
    return client.post(f"/manage/applications/{application.id}/decision", data=data)


def release(client: FlaskClient, call_id: int):
    page = f"/manage/calls/{call_id}/decisions"
    return client.post(f"{page}/release", data={"csrf_token": csrf_token(client, page), "confirm": "y"})


def submitted(make_user, call, **fields) -> Application:
    return make_application(make_user(Role.APPLICANT), call, state="under_review", complete=True, **fields)


def test_decision_is_hidden_from_applicant_until_released(manager_client: FlaskClient, applicant_client: FlaskClient) -> None:
    call = make_call()
    application = make_application(applicant_client.user, call, state="under_review", complete=True)
    assert decide(manager_client, application, "accepted", message="Welcome!").status_code == 302
    db.session.refresh(application)
    assert application.state == "accepted" and application.decision_released_at is None
    page = applicant_client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "Under review" in page and "Accepted" not in page
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0

    assert release(manager_client, call.id).status_code == 302
    page = applicant_client.get(f"/applications/{application.id}").get_data(as_text=True)
    assert "Accepted" in page and "Decided" in page
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "decision"))
    assert email.to_address == applicant_client.user.email
    assert "is accepted" in email.body_text and "Welcome!" in email.body_text


def test_release_twice_sends_one_email_per_applicant(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    application = submitted(make_user, call)
    decide(manager_client, application, "rejected")
    release(manager_client, call.id)
    release(manager_client, call.id)
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 1


def test_decision_email_quotes_reviewer_comments_only_when_chosen(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    first, second = submitted(make_user, call), submitted(make_user, call)
    for application in (first, second):
        reviewer = make_user(Role.REVIEWER)
        db.session.add(Review(application_id=application.id, reviewer_id=reviewer.id, state="submitted",
                              comment_applicant="Strong science; sharpen the market case.",
                              comment_committee="Internal: borderline.", submitted_at=application.submitted_at))
    db.session.commit()
    decide(manager_client, first, "waitlisted", share_reviewer_comments="y")
    decide(manager_client, second, "waitlisted")
    release(manager_client, call.id)
    bodies = {email.to_address: email.body_text for email in db.session.scalars(select(OutboundEmail))}
    assert "Strong science; sharpen the market case." in bodies[first.applicant.email]
    assert "Strong science" not in bodies[second.applicant.email]
    assert all("Internal: borderline." not in body for body in bodies.values())


def test_undo_before_release_returns_to_review_and_is_refused_after(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    application = submitted(make_user, call)
    decide(manager_client, application, "accepted")
    page = f"/manage/calls/{call.id}/decisions"
    response = manager_client.post(f"/manage/applications/{application.id}/decision/undo",
                                   data={"csrf_token": csrf_token(manager_client, page)})
    assert response.status_code == 302
    db.session.refresh(application)
    assert application.state == "under_review" and application.decided_at is None
    decide(manager_client, application, "rejected")
    release(manager_client, call.id)
    again = decide(manager_client, application, "accepted")
    assert again.status_code == 409
    assert "can no longer be changed" in again.get_data(as_text=True)
    db.session.refresh(application)
    assert application.state == "rejected"


def test_bulk_decision_applies_to_selected_only(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    chosen, other = submitted(make_user, call), submitted(make_user, call)
    page = f"/manage/calls/{call.id}/decisions"
    response = manager_client.post(f"{page}/bulk", data={"csrf_token": csrf_token(manager_client, page),
                                                          "decision": "rejected", "application_ids": [str(chosen.id)]})
    assert response.status_code == 302
    db.session.refresh(chosen)
    db.session.refresh(other)
    assert (chosen.state, other.state) == ("rejected", "under_review")
    assert db.session.scalar(select(AuditEvent.details).where(AuditEvent.action == "application.decision_recorded")) == {
        "previous_state": "under_review", "decision": "rejected"}


def test_bulk_decision_without_selection_is_refused(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    submitted(make_user, call)
    page = f"/manage/calls/{call.id}/decisions"
    response = manager_client.post(f"{page}/bulk", data={"csrf_token": csrf_token(manager_client, page), "decision": "accepted"})
    assert response.status_code == 400
    assert "Select at least one application." in response.get_data(as_text=True)


def test_bulk_decision_with_an_ineligible_application_changes_nothing(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    good = submitted(make_user, call)
    draft = make_application(make_user(Role.APPLICANT), call, state="draft")
    page = f"/manage/calls/{call.id}/decisions"
    response = manager_client.post(f"{page}/bulk", data={"csrf_token": csrf_token(manager_client, page), "decision": "accepted",
                                                          "application_ids": [str(good.id), str(draft.id)]})
    assert response.status_code == 409
    db.session.refresh(good)
    assert good.state == "under_review"


def test_decision_posted_by_a_reviewer_or_applicant_is_refused(reviewer_client: FlaskClient, applicant_client: FlaskClient,
                                                               make_user) -> None:
    call = make_call()
    application = submitted(make_user, call)
    token = csrf_token(reviewer_client, "/password/change")
    response = reviewer_client.post(f"/manage/applications/{application.id}/decision",
                                    data={"decision": "accepted", "csrf_token": token})
    assert response.status_code == 403
    token = csrf_token(applicant_client, "/password/change")
    assert applicant_client.post(f"/manage/applications/{application.id}/decision",
                                 data={"decision": "accepted", "csrf_token": token}).status_code == 403
    db.session.refresh(application)
    assert application.state == "under_review"


def test_unknown_decision_value_is_refused(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    application = submitted(make_user, call)
    response = decide(manager_client, application, "promoted")
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    db.session.refresh(application)
    assert application.state == "under_review"


def test_applicant_may_withdraw_while_decision_is_unreleased(manager_client: FlaskClient, applicant_client: FlaskClient) -> None:
    call = make_call()
    application = make_application(applicant_client.user, call, state="under_review", complete=True)
    decide(manager_client, application, "rejected")
    url = f"/applications/{application.id}/withdraw"
    response = applicant_client.post(url, data={"csrf_token": csrf_token(applicant_client, url)})
    assert response.status_code == 302
    db.session.refresh(application)
    assert application.state == "withdrawn"


# ------------------------------------------------------------------ a page, not the whole call


def _listed(html: str) -> list[str]:
    """Application ids of the page's selection boxes, in the order shown."""
    return re.findall(r'name="application_ids" value="(\d+)"', html)


def test_decisions_are_paged_by_company_name_at_the_page_size(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    size = DECISIONS_PER_PAGE
    made = [submitted(make_user, call, company_name=f"Company {n:03d}") for n in range(size + 1)]
    page = f"/manage/calls/{call.id}/decisions"
    first = manager_client.get(page).get_data(as_text=True)
    second = manager_client.get(f"{page}?page=2").get_data(as_text=True)
    assert _listed(first) == [str(a.id) for a in made[:size]]  # ordered by name, exactly one page
    assert _listed(second) == [str(made[size].id)]  # the boundary row, once
    assert "Page 1 of 2" in first and f"{page}?page=2" in first
    assert _listed(manager_client.get(f"{page}?page=3").get_data(as_text=True)) == []


def test_decisions_search_and_state_filter_run_on_the_server(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    soil = submitted(make_user, call, company_name="Soil Sensors AS")
    rejected = make_application(make_user(Role.APPLICANT), call, state="rejected", complete=True,
                                company_name="Soil 100% AB")
    submitted(make_user, call, company_name="Payroll Oy")
    page = f"/manage/calls/{call.id}/decisions"
    assert sorted(_listed(manager_client.get(f"{page}?q=soil").get_data(as_text=True))) == sorted(
        [str(soil.id), str(rejected.id)])
    assert _listed(manager_client.get(f"{page}?q=100%25").get_data(as_text=True)) == [str(rejected.id)]
    assert _listed(manager_client.get(f"{page}?q=soil&state=rejected").get_data(as_text=True)) == [str(rejected.id)]
    assert "No applications found." in manager_client.get(f"{page}?q=nothing-like-it").get_data(as_text=True)


def test_decisions_page_refuses_hostile_query_values(manager_client: FlaskClient) -> None:
    page = f"/manage/calls/{make_call().id}/decisions"
    for query in ("page=0", "page=abc", "page=99999999999999999999", "state=draft", "state=<b>"):
        assert manager_client.get(f"{page}?{query}").status_code == 400, query


def test_bulk_decision_on_more_than_a_page_is_refused(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    application = submitted(make_user, call)
    ids = [str(application.id)] + [str(n) for n in range(10_000_000, 10_000_000 + DECISIONS_PER_PAGE)]
    page = f"/manage/calls/{call.id}/decisions"
    response = manager_client.post(f"{page}/bulk", data={"csrf_token": csrf_token(manager_client, page),
                                                          "decision": "accepted", "application_ids": ids})
    assert response.status_code == 400
    assert f"Select at most {DECISIONS_PER_PAGE} applications at once." in response.get_data(as_text=True)
    db.session.refresh(application)
    assert application.state == "under_review"


def test_unreleased_decisions_are_counted_across_pages(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    for n in range(DECISIONS_PER_PAGE + 2):
        make_application(make_user(Role.APPLICANT), call, state="accepted" if n % 2 else "under_review",
                         complete=True, company_name=f"Company {n:03d}")
    body = manager_client.get(f"/manage/calls/{call.id}/decisions?page=2").get_data(as_text=True)
    assert f"{(DECISIONS_PER_PAGE + 2) // 2} decisions are not released yet." in body


def test_decisions_list_a_nameless_application_first_on_every_database(manager_client: FlaskClient,
                                                                       make_user) -> None:
    # The page reads the call in ix_applications_call_name's order, where a missing name is ''
    # (SQLite sorts NULL first and PostgreSQL last; '' sorts first on both), then by id.
    call = make_call()
    named = submitted(make_user, call, company_name="Aurora AS")
    nameless = [submitted(make_user, call, company_name=None) for _ in range(2)]
    body = manager_client.get(f"/manage/calls/{call.id}/decisions").get_data(as_text=True)
    assert _listed(body) == [str(nameless[0].id), str(nameless[1].id), str(named.id)]


def test_unreleased_count_leaves_out_released_and_undecided_applications(manager_client: FlaskClient,
                                                                         make_user) -> None:
    call = make_call()
    kept = submitted(make_user, call, company_name="Kept AS")
    assert decide(manager_client, kept, "accepted").status_code == 302
    assert release(manager_client, call.id).status_code == 302
    for decision in ("waitlisted", "rejected"):
        assert decide(manager_client, submitted(make_user, call), decision).status_code == 302
    submitted(make_user, call)
    body = manager_client.get(f"/manage/calls/{call.id}/decisions").get_data(as_text=True)
    assert "2 decisions are not released yet." in body
