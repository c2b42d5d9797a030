"""The reviewer's pages through the test client: the list, the review form, the others' reviews,
conflicts and the profile; 404 for anything not assigned or conflicted, 403 for other roles."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, Conflict, Criterion, Review, ReviewerProfile, User
from tests.conftest import csrf_token
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric

COMPANY = "Radiant Bio AS"


@pytest.fixture
def call(app: Flask) -> Call:
    call = make_call(review_deadline=dt.datetime(2031, 1, 31, 22, 0, tzinfo=dt.UTC))
    make_rubric(call, [
        {"name": "Team", "description": "Competence of the team.", "weight": Decimal(20),
         "descriptors": {"0": "Fails", "3": "Good: well addressed", "5": "Excellent"}},
        {"name": "IP position", "weight": Decimal(15)},
    ])
    return call


@pytest.fixture
def criteria(call: Call) -> list[Criterion]:
    return list(call.criteria)


@pytest.fixture
def application(call: Call) -> Application:
    return make_application(make_applicant(), call, state="submitted", complete=True, company_name=COMPANY,
                            project_summary="Alpha emitters aimed at prostate cancer.")


@pytest.fixture
def reviewer(reviewer_client: FlaskClient) -> User:
    return reviewer_client.user  # type: ignore[attr-defined]


@pytest.fixture
def assigned(application: Application, reviewer: User) -> Application:
    make_assignment(application, reviewer, due_at=dt.datetime(2031, 1, 15, 11, 0, tzinfo=dt.UTC))
    return application


def _url(application: Application) -> str:
    return f"/review/applications/{application.id}"


def _post_review(client: FlaskClient, application: Application, scores: dict[int, Any], *, submit: bool,
                 comment: str = "Credible team; IP still thin.", confidence: str = "4",
                 applicant_comment: str = "") -> Any:
    data: dict[str, Any] = {f"score_{criterion_id}": str(value) for criterion_id, value in scores.items()}
    data.update(comment_committee=comment, comment_applicant=applicant_comment, confidence=confidence,
                csrf_token=csrf_token(client, "/review/profile"))
    data["submit_review" if submit else "save_draft"] = "x"
    return client.post(_url(application), data=data)


def _review_of(reviewer: User, application: Application) -> Review | None:
    db.session.expire_all()
    return db.session.scalar(select(Review).where(Review.reviewer_id == reviewer.id,
                                                  Review.application_id == application.id))


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def test_assignments_page_lists_the_reviewers_applications_by_call(reviewer_client, assigned, call) -> None:
    page = _text(reviewer_client.get("/review/"))
    assert call.title in page and COMPANY in page
    assert f'href="/review/applications/{assigned.id}"' in page
    assert "15 Jan 2031, 12:00 CET" in page  # the due date in the call's time zone (Oslo)
    assert "Not started" in page and "Overdue" not in page


def test_overdue_assignment_is_flagged(reviewer_client, application, reviewer) -> None:
    make_assignment(application, reviewer, due_at=utcnow() - dt.timedelta(hours=2))
    assert "Overdue" in _text(reviewer_client.get("/review/"))


def test_empty_list_says_so(reviewer_client) -> None:
    response = reviewer_client.get("/review/")
    assert response.status_code == 200 and "No applications are assigned to you yet" in _text(response)


def test_review_page_shows_answers_rubric_and_form(reviewer_client, assigned, criteria) -> None:
    response = reviewer_client.get(_url(assigned))
    page = _text(response)
    assert response.status_code == 200
    assert "Alpha emitters aimed at prostate cancer." in page  # the application's answers
    assert f'href="/applications/{assigned.id}/attachments/{assigned.attachments[0].id}"' in page
    assert "Team" in page and "Competence of the team." in page and "IP position" in page
    assert "3 — Good: well addressed" in page and "5 — Excellent" in page and ">4.5<" in page
    team, ip = criteria
    assert page.count(f'name="score_{team.id}"') == 12  # "not scored" and 0, 0.5 … 5
    assert "Save draft" in page and "Submit review" in page and "Declare conflict" in page
    assert "once you submit yours" in page


def test_saving_a_partial_draft(reviewer_client, reviewer, assigned, criteria) -> None:
    team, _ = criteria
    response = _post_review(reviewer_client, assigned, {team.id: "3.5"}, submit=False, comment="", confidence="")
    assert response.status_code == 302 and response.headers["Location"] == _url(assigned)
    review = _review_of(reviewer, assigned)
    assert review.state == "draft" and [s.value for s in review.scores] == [Decimal("3.5")]
    page = _text(reviewer_client.get(_url(assigned)))
    assert "Draft saved." in page
    assert re.search(r'checked[^>]*value="3.5"|value="3.5"[^>]*checked', page)  # shown as saved


def test_submitting_with_all_scores_stores_the_weighted_score(reviewer_client, reviewer, assigned, criteria) -> None:
    team, ip = criteria
    response = _post_review(reviewer_client, assigned, {team.id: "4.5", ip.id: "3"}, submit=True)
    assert response.status_code == 302
    review = _review_of(reviewer, assigned)
    assert review.state == "submitted" and review.confidence == 4
    assert review.weighted_score == Decimal("3.8571")  # (20 × 4.5 + 15 × 3) / 35
    page = _text(reviewer_client.get(_url(assigned)))
    assert "Your review is submitted." in page and "Save changes" in page and "Save draft" not in page
    listing = _text(reviewer_client.get("/review/"))
    assert "Submitted" in listing


@pytest.mark.parametrize(("value", "message"), [
    ("4.3", "Team: 4.3 is not on the 0.5 step."),
    ("7", "Team: 7 is outside the scale 0–5."),
    ("lots", "Team: give a number."),
    ("1E+1000000", "Team: give a number."),  # overflowed Decimal arithmetic (500) before
    ("-1E+1000000", "Team: give a number."),
    ("1E-1000000", "Team: give a number."),
])
def test_score_off_scale_or_step_is_400_naming_the_criterion(reviewer_client, reviewer, assigned, criteria,
                                                             value, message) -> None:
    team, ip = criteria
    response = _post_review(reviewer_client, assigned, {team.id: value, ip.id: "3"}, submit=True,
                            comment="Kept after the refusal")
    page = _text(response)
    assert response.status_code == 400
    assert message in page and f'id="score_{team.id}-error"' in page
    assert "Kept after the refusal" in page  # nothing typed is lost
    assert _review_of(reviewer, assigned) is None


def test_submit_without_every_criterion_is_400(reviewer_client, reviewer, assigned, criteria) -> None:
    team, ip = criteria
    response = _post_review(reviewer_client, assigned, {team.id: "3"}, submit=True, confidence="")
    page = _text(response)
    assert response.status_code == 400
    assert "Score IP position before submitting." in page and f'id="score_{ip.id}-error"' in page
    assert "Say how confident you are" in page
    assert _review_of(reviewer, assigned) is None


def test_confidence_outside_choices_is_400(reviewer_client, assigned, criteria) -> None:
    response = _post_review(reviewer_client, assigned, {}, submit=False, confidence="9")
    assert response.status_code == 400


def test_post_without_csrf_token_is_refused(reviewer_client, reviewer, assigned, criteria) -> None:
    response = reviewer_client.post(_url(assigned), data={f"score_{criteria[0].id}": "3", "save_draft": "x"})
    assert response.status_code == 400 and _review_of(reviewer, assigned) is None


def test_application_not_assigned_is_404_everywhere(reviewer_client, reviewer, application, criteria) -> None:
    assert reviewer_client.get(_url(application)).status_code == 404
    assert _post_review(reviewer_client, application, {criteria[0].id: "3"}, submit=False).status_code == 404
    token = csrf_token(reviewer_client, "/review/profile")
    response = reviewer_client.post(f"{_url(application)}/conflict", data={"reason": "x", "csrf_token": token})
    assert response.status_code == 404
    assert reviewer_client.get("/review/applications/999999").status_code == 404
    assert _review_of(reviewer, application) is None


def test_draft_application_is_404_even_if_assigned(reviewer_client, reviewer, call) -> None:
    draft = make_application(make_applicant(), call, state="draft", complete=True)
    make_assignment(draft, reviewer)
    assert reviewer_client.get(_url(draft)).status_code == 404


def test_after_the_deadline_the_form_is_read_only_and_saving_refused(reviewer_client, reviewer, assigned,
                                                                     call, criteria) -> None:
    call.review_deadline = utcnow() - dt.timedelta(minutes=1)
    db.session.commit()
    page = _text(reviewer_client.get(_url(assigned)))
    assert "The review deadline has passed" in page
    assert "Submit review" not in page and "Save draft" not in page
    assert re.search(r'<textarea[^>]*disabled[^>]*name="comment_committee"|<textarea[^>]*name="comment_committee"[^>]*disabled', page)
    team, ip = criteria
    response = _post_review(reviewer_client, assigned, {team.id: "3", ip.id: "3"}, submit=True)
    assert response.status_code == 409 and "The review deadline has passed" in _text(response)
    assert _review_of(reviewer, assigned) is None


def test_others_reviews_hidden_before_own_submission_and_shown_after(reviewer_client, reviewer, assigned,
                                                                      criteria) -> None:
    team, ip = criteria
    colleague = make_reviewer()
    colleague.name = "Dr Colleague"
    make_assignment(assigned, colleague)
    make_review(assigned, colleague, {team.id: 2, ip.id: 4.5}, comment_committee="Weak on freedom to operate.",
                confidence=5)
    page = _text(reviewer_client.get(_url(assigned)))
    assert "Weak on freedom to operate." not in page and "Dr Colleague" not in page

    _post_review(reviewer_client, assigned, {team.id: "3"}, submit=False)
    page = _text(reviewer_client.get(_url(assigned)))
    assert "Weak on freedom to operate." not in page  # a draft is not enough

    assert _post_review(reviewer_client, assigned, {team.id: "3", ip.id: "3"}, submit=True).status_code == 302
    page = _text(reviewer_client.get(_url(assigned)))
    assert "Weak on freedom to operate." in page and "Dr Colleague" in page
    assert ">4.5<" in page and "3.0714" in page  # the colleague's score and weighted score ((40 + 67.5) / 35)


def test_script_in_comments_is_shown_escaped(reviewer_client, reviewer, assigned, criteria) -> None:
    team, ip = criteria
    script = '<script>alert("x")</script>'
    colleague = make_reviewer()
    make_assignment(assigned, colleague)
    make_review(assigned, colleague, {team.id: 3, ip.id: 3}, comment_committee=f"Theirs {script}")
    response = _post_review(reviewer_client, assigned, {team.id: "3", ip.id: "3"}, submit=True,
                            comment=f"Mine {script}", applicant_comment=f"<b>bold</b>{script}")
    assert response.status_code == 302
    assert _review_of(reviewer, assigned).comment_committee == f"Mine {script}"  # stored as typed
    page = _text(reviewer_client.get(_url(assigned)))
    assert "<script>alert" not in page and "<b>bold</b>" not in page
    assert "Mine &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    assert "Theirs &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def _conflict_on_file(reviewer: User, application: Application) -> None:
    """A conflict recorded while the assignment stays (e.g. detected after assigning)."""
    db.session.add(Conflict(reviewer_id=reviewer.id, application_id=application.id, source="detected",
                            reason="Same email domain as the company."))
    db.session.commit()


def test_conflicted_reviewer_gets_404_everywhere_and_no_listing(reviewer_client, reviewer, assigned,
                                                                criteria) -> None:
    _conflict_on_file(reviewer, assigned)
    attachment = assigned.attachments[0]
    assert reviewer_client.get(_url(assigned)).status_code == 404
    assert reviewer_client.get(f"/applications/{assigned.id}").status_code == 404
    assert reviewer_client.get(f"/applications/{assigned.id}/attachments/{attachment.id}").status_code == 404
    assert _post_review(reviewer_client, assigned, {criteria[0].id: "3"}, submit=False).status_code == 404
    assert COMPANY not in _text(reviewer_client.get("/review/"))
    assert _review_of(reviewer, assigned) is None


def test_whole_company_conflict_hides_the_application(reviewer_client, reviewer, assigned) -> None:
    db.session.add(Conflict(reviewer_id=reviewer.id, country=assigned.country, org_number=assigned.org_number,
                            source="manager", reason="Shareholder."))
    db.session.commit()
    assert reviewer_client.get(_url(assigned)).status_code == 404
    assert COMPANY not in _text(reviewer_client.get("/review/"))


def test_assigned_reviewer_may_download_the_attachment(reviewer_client, assigned) -> None:
    attachment = assigned.attachments[0]
    response = reviewer_client.get(f"/applications/{assigned.id}/attachments/{attachment.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"


def test_declaring_a_conflict_removes_assignment_and_draft(reviewer_client, reviewer, assigned, criteria) -> None:
    _post_review(reviewer_client, assigned, {criteria[0].id: "3"}, submit=False)
    assert _review_of(reviewer, assigned) is not None
    token = csrf_token(reviewer_client, _url(assigned))
    response = reviewer_client.post(f"{_url(assigned)}/conflict",
                                    data={"reason": "I advise their board.", "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/review/"
    listing = _text(reviewer_client.get("/review/"))
    assert "Conflict of interest recorded" in listing and COMPANY not in listing
    assert _review_of(reviewer, assigned) is None
    assert db.session.scalar(select(Assignment).where(Assignment.reviewer_id == reviewer.id)) is None
    conflict = db.session.scalar(select(Conflict).where(Conflict.reviewer_id == reviewer.id))
    assert conflict.source == "declared" and conflict.reason == "I advise their board."
    assert reviewer_client.get(_url(assigned)).status_code == 404


def test_whole_company_conflict_declared_by_the_reviewer(reviewer_client, reviewer, assigned) -> None:
    token = csrf_token(reviewer_client, _url(assigned))
    response = reviewer_client.post(f"{_url(assigned)}/conflict",
                                    data={"reason": "Former employer.", "whole_company": "y", "csrf_token": token})
    assert response.status_code == 302
    conflict = db.session.scalar(select(Conflict).where(Conflict.reviewer_id == reviewer.id))
    assert conflict.application_id is None and conflict.org_number == assigned.org_number


def test_conflict_without_reason_is_400(reviewer_client, reviewer, assigned) -> None:
    token = csrf_token(reviewer_client, _url(assigned))
    response = reviewer_client.post(f"{_url(assigned)}/conflict", data={"reason": "  ", "csrf_token": token})
    assert response.status_code == 400 and "Say briefly why there is a conflict." in _text(response)
    assert db.session.scalar(select(Conflict)) is None
    assert db.session.scalar(select(Assignment).where(Assignment.reviewer_id == reviewer.id)) is not None


def test_profile_is_shown_and_saved(reviewer_client, reviewer) -> None:
    page = _text(reviewer_client.get("/review/profile"))
    assert "Focus areas you can review" in page and 'value="10"' in page
    response = reviewer_client.post("/review/profile", data={
        "focus_areas": ["diagnostics", "medtech"], "expertise": "Imaging biomarkers", "max_load": "8",
        "affiliation": "Oslo University Hospital", "csrf_token": csrf_token(reviewer_client, "/review/profile")})
    assert response.status_code == 302
    db.session.expire_all()
    profile = db.session.get(ReviewerProfile, reviewer.id)
    assert profile.focus_areas == ["diagnostics", "medtech"] and profile.max_load == 8
    assert profile.expertise == "Imaging biomarkers"
    assert db.session.get(User, reviewer.id).affiliation == "Oslo University Hospital"
    page = _text(reviewer_client.get("/review/profile"))
    assert "Your reviewer profile is saved." in page and "Imaging biomarkers" in page


def test_reviewer_pauses_and_resumes_reminders_from_the_profile(reviewer_client, reviewer) -> None:
    form = {"expertise": "Oncology", "max_load": "5", "affiliation": "", "reminders_paused": "y"}
    form["csrf_token"] = csrf_token(reviewer_client, "/review/profile")
    assert reviewer_client.post("/review/profile", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(ReviewerProfile, reviewer.id).reminders_paused is True
    del form["reminders_paused"]
    assert reviewer_client.post("/review/profile", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(ReviewerProfile, reviewer.id).reminders_paused is False


@pytest.mark.parametrize(("max_load", "message"), [
    ("-1", "Enter a whole number from 0 to 200."),
    ("201", "Enter a whole number from 0 to 200."),
    ("", "Enter a whole number from 0 to 200."),
])
def test_profile_validation_is_400_beside_the_field(reviewer_client, reviewer, max_load, message) -> None:
    response = reviewer_client.post("/review/profile", data={
        "expertise": "Kept as typed", "max_load": max_load,
        "csrf_token": csrf_token(reviewer_client, "/review/profile")})
    page = _text(response)
    assert response.status_code == 400 and message in page and 'id="max_load-error"' in page
    assert "Kept as typed" in page
    assert db.session.get(ReviewerProfile, reviewer.id) is None


def test_profile_unknown_focus_area_is_400(reviewer_client) -> None:
    response = reviewer_client.post("/review/profile", data={
        "focus_areas": ["astrology"], "max_load": "3", "csrf_token": csrf_token(reviewer_client, "/review/profile")})
    assert response.status_code == 400


@pytest.mark.parametrize("client_fixture", ["manager_client", "applicant_client", "admin_client"])
def test_other_roles_get_403_on_review_pages(request, client_fixture, application) -> None:
    client: FlaskClient = request.getfixturevalue(client_fixture)
    for url in ["/review/", "/review/profile", _url(application)]:
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, "/password/change")
    assert client.post(_url(application), data={"csrf_token": token}).status_code == 403
    assert client.post(f"{_url(application)}/conflict", data={"csrf_token": token, "reason": "x"}).status_code == 403


def test_logged_out_visitor_is_sent_to_log_in(client, application) -> None:
    response = client.get(_url(application))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_second_reviewer_cannot_see_the_firsts_draft(app, reviewer_client, reviewer, assigned, criteria) -> None:
    make_review(assigned, make_reviewer(), {criteria[0].id: 1, criteria[1].id: 1}, state="draft",
                comment_committee="Unfinished thoughts")
    _post_review(reviewer_client, assigned, {criteria[0].id: "3", criteria[1].id: "3"}, submit=True)
    assert "Unfinished thoughts" not in _text(reviewer_client.get(_url(assigned)))


def test_a_failed_submit_opens_with_an_error_summary_that_links_to_each_field(reviewer_client, assigned,
                                                                             criteria) -> None:
    team, ip = criteria
    page = _text(_post_review(reviewer_client, assigned, {team.id: "3"}, submit=True, confidence=""))
    start = page.index("data-error-summary")
    summary = page[start:page.index("</div>", start)]
    assert "There is a problem" in summary
    # Each link names its field and leads to an element on the page: the first radio of a criterion.
    assert f'<a href="#score_{ip.id}-0">IP position: Score IP position before submitting.</a>' in summary
    assert f'id="score_{ip.id}-0"' in page
    assert 'href="#confidence"' in summary and 'id="confidence"' in page
    assert f'href="#score_{team.id}-0"' not in summary


def test_the_review_form_offers_each_level_as_a_compact_button_with_its_descriptor(reviewer_client, assigned,
                                                                                  criteria) -> None:
    page = _text(reviewer_client.get(_url(assigned)))
    team = criteria[0]
    # Same field names and values as before, so a posted review is unchanged; only the look is compact.
    radios = re.findall(f'<input (?:checked )?class="btn-check" id="(score_{team.id}-\\d+)" name="score_{team.id}" type="radio"', page)
    assert len(radios) == 12  # not scored, then 0 to 5 in half points
    assert all(f'<label class="btn btn-outline-primary btn-sm" for="{radio}">' in page for radio in radios)
    # The descriptor is in the level's accessible name and, for sighted readers, behind "What the levels mean".
    assert page.count("3 — Good: well addressed") == 2 and "What the levels mean" in page
