"""The startup's offer page: only the owner sees it; accept or decline before the deadline."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import OutboundEmail, Residency
from incubator.models.residencies import Offer
from tests.conftest import csrf_token, log_in
from tests.factories import make_call
from tests.integration.test_residencies_service import decided, make_slot


def make_offer(client: FlaskClient, make_user, *, deadline_in: dt.timedelta = dt.timedelta(days=7)) -> Offer:
    call = make_call()
    slot = make_slot(call)
    application = decided(lambda *a, **k: client.user, call)  # type: ignore[attr-defined]
    now = utcnow()
    offer = Offer(application=application, slot=slot, state="offered", starts_on=dt.date(2027, 1, 1),
                  ends_on=dt.date(2028, 1, 1), response_deadline=now + deadline_in, offered_at=now - dt.timedelta(days=1))
    db.session.add(offer)
    db.session.commit()
    return offer


def test_owner_accepts_the_offer(applicant_client: FlaskClient, make_user) -> None:
    offer = make_offer(applicant_client, make_user)
    page = applicant_client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "Waiting for your answer" in page and "January 2027 – December 2027" in page and "days left" in page
    token = csrf_token(applicant_client, f"/offers/{offer.id}")
    response = applicant_client.post(f"/offers/{offer.id}/accept", data={"csrf_token": token})
    assert response.status_code == 302
    page = applicant_client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "You accepted this place" in page
    assert db.session.scalar(select(func.count()).select_from(Residency)) == 1
    assert db.session.scalar(select(OutboundEmail.kind)) == "offer_accepted"
    # Answering twice is refused clearly.
    response = applicant_client.post(f"/offers/{offer.id}/decline", data={"csrf_token": token})
    assert response.status_code == 409 and "already accepted" in response.get_data(as_text=True)


def test_owner_declines(applicant_client: FlaskClient, make_user) -> None:
    offer = make_offer(applicant_client, make_user)
    token = csrf_token(applicant_client, f"/offers/{offer.id}")
    assert applicant_client.post(f"/offers/{offer.id}/decline", data={"csrf_token": token}).status_code == 302
    db.session.refresh(offer)
    assert offer.state == "declined"


def test_after_the_deadline_the_answer_is_refused(applicant_client: FlaskClient, make_user) -> None:
    offer = make_offer(applicant_client, make_user, deadline_in=dt.timedelta(minutes=-5))
    page = applicant_client.get(f"/offers/{offer.id}").get_data(as_text=True)
    assert "deadline to answer this offer has passed" in page and "Accept the place" not in page
    token = csrf_token(applicant_client, "/password/change")
    response = applicant_client.post(f"/offers/{offer.id}/accept", data={"csrf_token": token})
    assert response.status_code == 409 and "deadline to answer this offer has passed" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Residency)) == 0


def test_someone_elses_offer_is_not_found(app, applicant_client: FlaskClient, make_user) -> None:
    offer = make_offer(applicant_client, make_user)
    other = make_user(Role.APPLICANT)
    client = app.test_client()
    log_in(client, other.email)
    assert client.get(f"/offers/{offer.id}").status_code == 404
    token = csrf_token(client, "/password/change")
    assert client.post(f"/offers/{offer.id}/accept", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/offers/{offer.id}/decline", data={"csrf_token": token}).status_code == 404
    assert client.get("/offers/999999").status_code == 404
    db.session.refresh(offer)
    assert offer.state == "offered"


def test_missing_csrf_token_is_a_400(applicant_client: FlaskClient, make_user) -> None:
    offer = make_offer(applicant_client, make_user)
    response = applicant_client.post(f"/offers/{offer.id}/accept", data={})
    assert response.status_code == 400
