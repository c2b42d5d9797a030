"""Irreversible actions go through a confirmation page that works without script: deleting a
slot, sending offers, erasing an account (releasing decisions: tests/web/test_committee.py)."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.extensions import db
from incubator.models import MatchRun, Slot
from incubator.models.residencies import Offer
from tests.conftest import PASSWORD, csrf_token
from tests.factories import make_call
from tests.integration.test_residencies_service import decided, make_slot


def test_deleting_a_slot_asks_first_and_needs_the_tick(manager_client: FlaskClient) -> None:
    call = make_call()
    slot = make_slot(call, label="Spare desks")
    url = f"/manage/slots/{slot.id}/delete"
    edit = manager_client.get(f"/manage/slots/{slot.id}/edit").get_data(as_text=True)
    assert f'href="{url}"' in edit
    page = manager_client.get(url)
    assert page.status_code == 200 and "Delete slot “Spare desks”?" in page.get_data(as_text=True)
    token = csrf_token(manager_client, url)
    refused = manager_client.post(url, data={"csrf_token": token})
    assert refused.status_code == 400 and "Tick the box to confirm the deletion." in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 1
    assert manager_client.post(url, data={"csrf_token": token, "confirm": "y"}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 0


def test_slot_deletion_pages_are_for_managers(applicant_client: FlaskClient, reviewer_client: FlaskClient) -> None:
    slot = make_slot(make_call())
    for client in (applicant_client, reviewer_client):
        assert client.get(f"/manage/slots/{slot.id}/delete").status_code == 403


def test_sending_offers_shows_a_confirmation_page_first(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    make_slot(call, label="OCC lab A")
    startup = decided(make_user, call)
    url = f"/manage/calls/{call.id}/match"
    token = csrf_token(manager_client, url)
    assert manager_client.post(f"{url}/compute", data={"csrf_token": token}).status_code == 302
    run_id = str(db.session.scalar(select(MatchRun.id)))
    form = {"csrf_token": token, "response_days": "7", "confirm": "Confirm"}
    asked = manager_client.post(url, data=form)
    text = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Send these offers?" in text
    listed = text.split('id="offers-to-send"')[1].split("</table>")[0]
    assert startup.company_name in listed and "OCC lab A" in listed
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
    form["run_id"] = run_id  # the confirmation page names the run it showed
    unticked = manager_client.post(url, data={**form, "from_confirmation": "1"})
    assert unticked.status_code == 400 and "Tick the box to confirm sending the offers." in unticked.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
    sent = manager_client.post(url, data={**form, "from_confirmation": "1", "confirmed": "y"})
    assert sent.status_code == 302
    assert db.session.scalar(select(Offer.application_id)) == startup.id


def test_erasing_an_account_needs_the_tick_on_the_confirmation_page(applicant_client: FlaskClient) -> None:
    token = csrf_token(applicant_client, "/account/erase")
    refused = applicant_client.post("/account/erase", data={"csrf_token": token, "password": PASSWORD})
    assert refused.status_code == 400 and "Tick the box to confirm the erasure." in refused.get_data(as_text=True)
    db.session.refresh(applicant_client.user)
    assert applicant_client.user.active is True
    done = applicant_client.post("/account/erase", data={"csrf_token": token, "password": PASSWORD, "confirm": "y"})
    assert done.status_code == 302
    db.session.refresh(applicant_client.user)
    assert applicant_client.user.active is False
