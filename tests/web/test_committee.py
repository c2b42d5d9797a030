"""The committee's view (managers), the discussion (managers and reviewers who submitted), the
committee note and what reaches the applicant, the decisions board's scores, and the release
preview with its confirmation."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call, CommitteeComment, Conflict, Criterion, OutboundEmail
from tests.conftest import csrf_token
from tests.factories import make_application, make_call
from tests.factories_reviews import make_assignment, make_review, make_rubric

RUBRIC = [{"name": "Science", "weight": 2}, {"name": "Team", "weight": 1}]


@pytest.fixture
def call(app: Flask) -> Call:
    return make_call(reviewers_per_application=2)


@pytest.fixture
def criteria(call: Call) -> list[Criterion]:
    return make_rubric(call, RUBRIC)


@pytest.fixture
def application(call: Call, applicant_client: FlaskClient) -> Application:
    return make_application(applicant_client.user, call, state="under_review", complete=True,
                            company_name="Immunova AS")


def committee_url(application: Application) -> str:
    return f"/manage/applications/{application.id}/committee"


def post(client: FlaskClient, url: str, page: str, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client, page), **data})


def reviewed(application: Application, reviewer: Any, criteria: list[Criterion], science: float, team: float,
             **fields: Any) -> None:
    make_assignment(application, reviewer)
    make_review(application, reviewer, {criteria[0].id: science, criteria[1].id: team}, **fields)


def test_committee_view_shows_every_review_and_the_score_summary(manager_client: FlaskClient, make_user: Any,
                                                                  application: Application,
                                                                  criteria: list[Criterion]) -> None:
    first = make_user(Role.REVIEWER, name="Rita Reviewer")
    second = make_user(Role.REVIEWER, name="Sven Scorer")
    reviewed(application, first, criteria, 4, 1, comment_committee="IP is thin.", comment_applicant="Great data.")
    reviewed(application, second, criteria, 2, 5, comment_committee="Team is superb.")
    page = manager_client.get(committee_url(application)).get_data(as_text=True)
    assert "Rita Reviewer" in page and "Sven Scorer" in page
    assert "IP is thin." in page and "Great data." in page and "Team is superb." in page
    assert "4.00" in page and "1.00" in page  # per-criterion scores
    assert "3.00" in page  # weighted totals: (2*4 + 1)/3 = 3.00 and (2*2 + 5)/3 = 3.00
    summary = page.split('id="score-summary"')[1].split("</dl>")[0]
    assert "2 submitted of 2 assigned" in summary and "Mean</dt><dd class=\"col-sm-9\">3.00" in summary


def test_manager_discussion_and_empty_post_refused(manager_client: FlaskClient, application: Application) -> None:
    url = committee_url(application)
    empty = post(manager_client, f"{url}/comments", url, body="   ")
    assert empty.status_code == 400 and "Write something before posting." in empty.get_data(as_text=True)
    assert post(manager_client, f"{url}/comments", url, body="Discuss IP on Friday.").status_code == 302
    assert "Discuss IP on Friday." in manager_client.get(url).get_data(as_text=True)


def test_reviewer_joins_the_discussion_only_after_submitting(reviewer_client: FlaskClient,
                                                              manager_client: FlaskClient,
                                                              application: Application,
                                                              criteria: list[Criterion]) -> None:
    url = committee_url(application)
    post(manager_client, f"{url}/comments", url, body="Managers think it is borderline.")
    reviewer = reviewer_client.user
    make_assignment(application, reviewer)
    page_url = f"/review/applications/{application.id}"
    before = reviewer_client.get(page_url).get_data(as_text=True)
    assert "borderline" not in before and "opens to you once you submit your review" in before
    refused = post(reviewer_client, f"{page_url}/discussion", page_url, body="Me too")
    assert refused.status_code == 403 and "opens to you once you submit your review" in refused.get_data(as_text=True)
    make_review(application, reviewer, {criteria[0].id: 3, criteria[1].id: 3})
    assert "borderline" in reviewer_client.get(page_url).get_data(as_text=True)
    assert post(reviewer_client, f"{page_url}/discussion", page_url, body="I agree.").status_code == 302
    assert db.session.scalar(select(CommitteeComment.author_id).where(CommitteeComment.body == "I agree.")) == \
        reviewer.id


def test_conflicted_reviewer_never_sees_the_discussion(reviewer_client: FlaskClient, application: Application,
                                                        criteria: list[Criterion]) -> None:
    reviewer = reviewer_client.user
    make_assignment(application, reviewer)
    make_review(application, reviewer, {criteria[0].id: 3, criteria[1].id: 3})
    page_url = f"/review/applications/{application.id}"
    token = csrf_token(reviewer_client, page_url)
    db.session.add(Conflict(reviewer_id=reviewer.id, application_id=application.id, reason="Advisor",
                            source="manager"))
    db.session.commit()
    assert reviewer_client.get(page_url).status_code == 404
    response = reviewer_client.post(f"{page_url}/discussion", data={"csrf_token": token, "body": "Hello"})
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(CommitteeComment)) == 0


def test_committee_pages_are_for_managers_only(reviewer_client: FlaskClient, applicant_client: FlaskClient,
                                               application: Application) -> None:
    for client in (reviewer_client, applicant_client):
        assert client.get(committee_url(application)).status_code == 403


def test_draft_applications_have_no_committee_view(manager_client: FlaskClient, call: Call,
                                                   make_user: Any) -> None:
    draft = make_application(make_user(Role.APPLICANT), call)
    assert manager_client.get(committee_url(draft)).status_code == 404


def decide_and_note(manager_client: FlaskClient, application: Application, decision: str = "accepted") -> None:
    url = committee_url(application)
    assert post(manager_client, f"{url}/note", url, internal="Borderline; IP is thin, team carried it.",
                shared="The committee was impressed by your preclinical data.").status_code == 302
    page = f"/applications/{application.id}"
    assert post(manager_client, f"/manage/applications/{application.id}/decision", page,
                decision=decision).status_code == 302


def release(client: FlaskClient, call: Call, **extra: str) -> Any:
    url = f"/manage/calls/{call.id}/decisions/release"
    return post(client, url, url, **extra)


def test_applicant_sees_only_the_shared_note_and_only_after_release(
        manager_client: FlaskClient, applicant_client: FlaskClient, make_user: Any, application: Application,
        criteria: list[Criterion], call: Call) -> None:
    reviewed(application, make_user(Role.REVIEWER), criteria, 4, 4, comment_committee="Secret committee remark",
             comment_applicant="Visible only if shared")
    decide_and_note(manager_client, application)
    page = f"/applications/{application.id}"
    before = applicant_client.get(page).get_data(as_text=True)
    for hidden in ("impressed by your preclinical", "IP is thin", "Secret committee remark",
                   "Visible only if shared", "Accepted"):
        assert hidden not in before
    assert release(manager_client, call, confirm="y").status_code == 302
    after = applicant_client.get(page).get_data(as_text=True)
    assert "The committee was impressed by your preclinical data." in after
    assert "IP is thin" not in after and "Secret committee remark" not in after
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "decision"))
    assert "The committee was impressed by your preclinical data." in email.body_text
    assert "IP is thin" not in email.body_text


def test_shared_note_is_frozen_after_release(manager_client: FlaskClient, application: Application,
                                             call: Call) -> None:
    decide_and_note(manager_client, application)
    release(manager_client, call, confirm="y")
    url = committee_url(application)
    changed = post(manager_client, f"{url}/note", url, internal="Later thoughts", shared="Something else")
    assert changed.status_code == 409 and "can no longer change" in changed.get_data(as_text=True)
    internal_only = post(manager_client, f"{url}/note", url, internal="Later thoughts",
                         shared="The committee was impressed by your preclinical data.")
    assert internal_only.status_code == 302


def test_decisions_board_shows_rank_scores_and_links_to_the_committee_view(
        manager_client: FlaskClient, make_user: Any, application: Application, criteria: list[Criterion],
        call: Call) -> None:
    reviewed(application, make_user(Role.REVIEWER), criteria, 5, 5)
    page = manager_client.get(f"/manage/calls/{call.id}/decisions").get_data(as_text=True)
    row = next(r for r in page.split("<tr>") if committee_url(application) in r).split("</tr>")[0]
    assert "<td>1</td>" in row and "<td>5.00</td>" in row and "<td>1/1</td>" in row


# ------------------------------------------------------------------------ release preview


def test_release_preview_counts_emails_per_decision_and_shows_one_of_each(
        manager_client: FlaskClient, make_user: Any, call: Call) -> None:
    def decided(name: str, state: str) -> Application:
        return make_application(make_user(Role.APPLICANT), call, state=state, complete=True, company_name=name)

    decided("Alpha", "accepted")
    decided("Beta", "accepted")
    decided("Gamma", "rejected")
    preview = manager_client.get(f"/manage/calls/{call.id}/decisions/release").get_data(as_text=True)
    counts = preview.split('id="release-counts"')[1].split("</table>")[0]
    assert '<tr id="count-accepted"><td>Accepted</td><td>2</td><td>2</td></tr>' in counts
    assert '<tr id="count-rejected"><td>Not accepted</td><td>1</td><td>1</td></tr>' in counts
    assert '<tr id="count-waitlisted"><td>Waitlisted</td><td>0</td><td>0</td></tr>' in counts
    assert "Your residency application is accepted" in preview and "is accepted" in preview
    assert "could not offer" in preview  # the rejection email's body
    assert preview.count('class="border rounded p-3 bg-body-tertiary text-wrap sample-body"') == 2
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)) == 0  # a preview sends nothing


def test_release_without_the_confirmation_is_refused(manager_client: FlaskClient, make_user: Any,
                                                     call: Call) -> None:
    application = make_application(make_user(Role.APPLICANT), call, state="accepted", complete=True)
    refused = release(manager_client, call)
    assert refused.status_code == 400 and "Tick the box to confirm the release." in refused.get_data(as_text=True)
    db.session.refresh(application)
    assert application.decision_released_at is None
    assert release(manager_client, call, confirm="y").status_code == 302
    db.session.refresh(application)
    assert application.decision_released_at is not None


@pytest.mark.parametrize("role", ["reviewer_client", "applicant_client"])
def test_release_preview_is_for_managers_only(request: pytest.FixtureRequest, role: str, call: Call) -> None:
    client = request.getfixturevalue(role)
    assert client.get(f"/manage/calls/{call.id}/decisions/release").status_code == 403


def test_managers_see_the_exchange_direction_and_the_applicant_does_not(
        application: Application, manager_client: FlaskClient, applicant_client: FlaskClient) -> None:
    for client in (manager_client, applicant_client):
        assert 'id="exchange-direction"' not in client.get(f"/applications/{application.id}").get_data(as_text=True)
    application.exchange_direction = "NO-SE"
    db.session.commit()
    for path in (committee_url(application), f"/applications/{application.id}"):
        page = manager_client.get(path).get_data(as_text=True)
        assert "Exchange: Norway → Sweden (NO→SE)" in page, path
    assert 'id="exchange-direction"' not in applicant_client.get(
        f"/applications/{application.id}").get_data(as_text=True)
