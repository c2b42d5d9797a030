"""An unreleased decision and the committee's work never reach the applicant, on any surface."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import OutboundEmail, User
from incubator.services import assignments, conflicts, decisions, reviews
from tests.conftest import PASSWORD, csrf_token
from tests.factories import make_application, make_call
from tests.factories_reviews import make_reviewer, make_rubric

SECRET_MESSAGE = "Welcome aboard, the committee loved the radiochemistry"
# Actions the applicant's history may hold: their own and the released steps.
COMMITTEE_ACTIONS = ("assignment.", "conflict.", "review.", "application.decision_recorded",
                     "application.decision_undone")


@pytest.fixture
def decided(applicant_client: FlaskClient, make_user) -> SimpleNamespace:
    """An application reviewed, with a conflict declared, and accepted but not released."""
    now = utcnow()
    call = make_call()
    criteria = make_rubric(call)
    application = make_application(applicant_client.user, call, state="submitted", complete=True,
                                   company_name="RadioTarget AS")
    manager = make_user(Role.MANAGER)
    scorer, conflicted = make_reviewer(), make_reviewer()
    assignments.assign_reviewer(manager, application, scorer, now)
    assignments.assign_reviewer(manager, application, conflicted, now)
    reviews.save_review(scorer, application, {criterion.id: Decimal(4) for criterion in criteria},
                        "Committee only: strong", "Good luck", 4, submit=True, now=now)
    conflicts.declare_conflict(conflicted, application, "I advise them", whole_company=False, now=now)
    decisions.decide(manager, application, decisions.ApplicationState.ACCEPTED, message=SECRET_MESSAGE, now=now)
    db.session.commit()
    assert application.state == "accepted" and application.decision_released_at is None
    return SimpleNamespace(application=application, manager=manager, client=applicant_client)


def exported_applications(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/account/export")
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        return json.loads(archive.read("applications.json"))


def release(decided: SimpleNamespace) -> None:
    decisions.release_decisions(decided.manager, [decided.application], utcnow())
    db.session.commit()


def test_export_shows_an_unreleased_decision_as_under_review(decided: SimpleNamespace) -> None:
    [exported] = exported_applications(decided.client)
    assert exported["state"] == "under_review"
    assert exported["decision_message"] is None and exported["decided_at"] is None
    assert "decided_by_id" not in exported and "share_reviewer_comments" not in exported
    assert SECRET_MESSAGE not in json.dumps(exported)


def test_export_history_holds_no_committee_work(decided: SimpleNamespace) -> None:
    [exported] = exported_applications(decided.client)
    # The assignments, the review, the conflict and the recorded decision are all in the audit
    # log; of them the applicant learns only that the application went under review.
    assert [(entry["action"], entry["by"]) for entry in exported["history"]] == [("application.under_review", "staff")]
    assert "details" not in exported["history"][0]


def test_export_after_release_shows_the_decision(decided: SimpleNamespace) -> None:
    release(decided)
    [exported] = exported_applications(decided.client)
    assert exported["state"] == "accepted" and exported["decision_message"] == SECRET_MESSAGE
    assert exported["decided_at"] is not None
    actions = [entry["action"] for entry in exported["history"]]
    assert "application.decided" in actions
    assert not [action for action in actions if action.startswith(COMMITTEE_ACTIONS)]


def test_privacy_page_keeps_listing_it_under_review(decided: SimpleNamespace) -> None:
    page = decided.client.get("/account/privacy").get_data(as_text=True)
    assert "Under review now:" in page and "RadioTarget AS" in page


def test_erasure_stays_refused_while_the_decision_is_unreleased(decided: SimpleNamespace) -> None:
    client = decided.client
    response = client.post("/account/erase", data={"password": PASSWORD, "confirm": "y",
                                                   "csrf_token": csrf_token(client, "/account/privacy")})
    assert response.status_code == 409
    assert "is under review" in response.get_data(as_text=True)
    user = db.session.get(User, client.user.id)
    db.session.refresh(user)
    assert user.active and decided.application.company_name == "RadioTarget AS"


def test_application_page_timeline_and_dashboard_say_under_review(decided: SimpleNamespace) -> None:
    for url in (f"/applications/{decided.application.id}", "/dashboard", f"/calls/{decided.application.call.slug}"):
        page = decided.client.get(url).get_data(as_text=True)
        assert "Under review" in page, url
        assert "Accepted" not in page and SECRET_MESSAGE not in page, url
    timeline = decided.client.get(f"/applications/{decided.application.id}").get_data(as_text=True)
    assert "Decided" not in timeline


def test_no_email_before_release_and_the_decision_email_after(decided: SimpleNamespace) -> None:
    assert db.session.scalar(select(func.count()).select_from(OutboundEmail)
                             .where(OutboundEmail.to_address == decided.client.user.email)) == 0
    release(decided)
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "decision"))
    assert "is accepted" in email.body_text and SECRET_MESSAGE in email.body_text


def test_withdrawing_over_an_unreleased_decision_does_not_reveal_it(decided: SimpleNamespace) -> None:
    client = decided.client
    url = f"/applications/{decided.application.id}/withdraw"
    assert client.post(url, data={"reason": "Funding came through",
                                  "csrf_token": csrf_token(client, url)}).status_code == 302
    [exported] = exported_applications(client)
    assert exported["state"] == "withdrawn"
    assert "accepted" not in json.dumps(exported["history"])
    assert exported["decision_message"] is None
