"""Managers' residency pages through the test client: slots, occupancy, the match, residencies."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import MatchRun, OutboundEmail, Residency, Slot
from incubator.models.residencies import Offer
from incubator.services import match_runs
from incubator.services import offers as offer_service
from tests.conftest import csrf_token
from tests.factories import make_call
from tests.integration.test_residencies_service import NOW, decided, make_slot


def slot_form(call, **overrides) -> dict[str, str]:
    programme = call.programmes[0].programme
    data = {"programme_id": str(programme.id), "site_id": str(programme.host_site_id), "label": "Lab row B",
            "space_type": "lab_bench", "capacity": "3", "first_month": "2027-01", "last_month": "2027-12"}
    data.update(overrides)
    return data


def test_manager_creates_and_edits_a_slot(manager_client: FlaskClient) -> None:
    call = make_call()
    token = csrf_token(manager_client, "/manage/slots/new")
    response = manager_client.post("/manage/slots/new", data={**slot_form(call), "csrf_token": token})
    assert response.status_code == 302
    slot = db.session.scalar(select(Slot))
    assert (slot.starts_on, slot.ends_on, slot.capacity) == (dt.date(2027, 1, 1), dt.date(2028, 1, 1), 3)
    page = manager_client.get("/manage/slots").get_data(as_text=True)
    assert "Lab row B" in page and "Jan 2027 – Dec 2027" in page
    edit = f"/manage/slots/{slot.id}/edit"
    assert 'value="2027-12"' in manager_client.get(edit).get_data(as_text=True)
    response = manager_client.post(edit, data={**slot_form(call, capacity="5"), "csrf_token": csrf_token(manager_client, edit)})
    assert response.status_code == 302
    db.session.refresh(slot)
    assert slot.capacity == 5


def test_bad_slot_input_is_refused_with_a_message(manager_client: FlaskClient) -> None:
    call = make_call()
    token = csrf_token(manager_client, "/manage/slots/new")
    for overrides, message in [({"capacity": "-1"}, "from 0 to 10,000"), ({"last_month": "2026-06"}, "must not be before"),
                               ({"first_month": "soon"}, "Not a valid date value"), ({"programme_id": "x"}, "")]:
        response = manager_client.post("/manage/slots/new", data={**slot_form(call, **overrides), "csrf_token": token})
        assert response.status_code == 400, overrides
        assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Slot)) == 0
    assert manager_client.get("/manage/slots/999/edit").status_code == 404


def test_match_is_computed_stored_adjusted_by_hand_and_confirmed(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    slot = make_slot(call, label="OCC lab A")
    make_slot(call, label="OCC lab B", starts_on=dt.date(2028, 6, 1))  # too late for their stay
    better = decided(make_user, call)
    worse = decided(make_user, call)
    page_url = f"/manage/calls/{call.id}/match"
    assert 'id="match-none"' in manager_client.get(page_url).get_data(as_text=True)
    token = csrf_token(manager_client, page_url)

    assert manager_client.post(f"{page_url}/compute", data={"csrf_token": token}).status_code == 302
    page = manager_client.get(page_url).get_data(as_text=True)
    assert better.company_name in page and "went to startups ranked higher" in page and "OCC lab A" in page

    adjust = f"{page_url}/adjust"
    response = manager_client.post(adjust, data={"csrf_token": token, "application_id": str(worse.id),
                                                 "slot": "occ lab a"})
    assert response.status_code == 409 and "would hold 2 startups" in response.get_data(as_text=True)
    response = manager_client.post(adjust, data={"csrf_token": token, "application_id": str(worse.id),
                                                 "slot": "OCC lab B"})
    assert response.status_code == 409 and "does not fit in the period of OCC lab B" in response.get_data(as_text=True)
    response = manager_client.post(adjust, data={"csrf_token": token, "application_id": str(worse.id),
                                                 "slot": "Nowhere"})
    assert response.status_code == 400 and "No slot of this call" in response.get_data(as_text=True)
    assert manager_client.post(adjust, data={"csrf_token": token, "application_id": "x"}).status_code == 400
    assert manager_client.post(adjust, data={"csrf_token": token, "application_id": "99999"}).status_code == 409
    assert manager_client.post(adjust, data={"csrf_token": token, "application_id": str(better.id),
                                             "slot": ""}).status_code == 302
    assert manager_client.post(adjust, data={"csrf_token": token, "application_id": str(worse.id),
                                             "slot": str(slot.id)}).status_code == 302
    assert "by hand" in manager_client.get(f"{page_url}?q={worse.company_name}").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0

    confirm = {"csrf_token": token, "response_days": "7", "confirm": "Confirm"}
    asked = manager_client.post(page_url, data=confirm)  # offers cannot be unsent: a page to confirm first
    assert asked.status_code == 200 and 'id="offers-to-send"' in asked.get_data(as_text=True)
    run_id = str(db.session.scalar(select(MatchRun.id)))
    unticked = manager_client.post(page_url, data={**confirm, "run_id": run_id, "from_confirmation": "1"})
    assert unticked.status_code == 400 and "Tick the box" in unticked.get_data(as_text=True)
    older = manager_client.post(page_url, data={**confirm, "run_id": "99999", "confirmed": "y",
                                                "from_confirmation": "1"})
    assert older.status_code == 400 and "computed again" in older.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
    response = manager_client.post(page_url, data={**confirm, "run_id": run_id, "confirmed": "y"})
    assert response.status_code == 302
    offer = db.session.scalar(select(Offer))
    assert offer.application_id == worse.id and offer.state == "offered"
    assert db.session.scalar(select(OutboundEmail.to_address).where(OutboundEmail.kind == "offer")) == worse.applicant.email
    page = manager_client.get(page_url).get_data(as_text=True)
    assert "offered" in page and "has been confirmed" in page
    again = manager_client.post(page_url, data={**confirm, "run_id": run_id, "confirmed": "y"})
    assert again.status_code == 409 and db.session.scalar(select(func.count()).select_from(Offer)) == 1


def test_a_stale_match_is_flagged_and_cannot_be_confirmed(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    make_slot(call, label="OCC lab A")
    decided(make_user, call)
    page_url = f"/manage/calls/{call.id}/match"
    token = csrf_token(manager_client, page_url)
    manager_client.post(f"{page_url}/compute", data={"csrf_token": token})
    assert 'id="match-stale"' not in manager_client.get(page_url).get_data(as_text=True)
    make_slot(call, label="OCC lab C")  # a new slot: the stored result may no longer be the best

    assert 'id="match-stale"' in manager_client.get(page_url).get_data(as_text=True)
    response = manager_client.post(page_url, data={"csrf_token": token, "response_days": "7", "confirm": "Confirm",
                                                   "run_id": str(db.session.scalar(select(MatchRun.id))),
                                                   "confirmed": "y"})
    assert response.status_code == 409 and "compute it again" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Offer)) == 0


def test_occupancy_timeline_csv_and_bad_input(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    make_slot(call, capacity=2, label="Benches")
    application = decided(make_user, call)
    offer = offer_service.confirm_offers(manager_client.user, call, match_runs.match_preview(call).placements, 14, NOW)[0]
    offer_service.accept_offer(application.applicant, offer, NOW)
    db.session.commit()
    page = manager_client.get("/manage/occupancy?start=2026-12&months=6")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Benches" in text and application.company_name in text and 'colspan="5"' in text
    assert "50 %" in text and "free" in text
    assert manager_client.get("/manage/occupancy?start=December").status_code == 400
    assert manager_client.get("/manage/occupancy?months=99").status_code == 400
    assert manager_client.get("/manage/occupancy?programme=x").status_code == 400
    big = make_slot(call, capacity=10_000, label="Shared floor")
    page = manager_client.get("/manage/occupancy?start=2027-01&months=6")
    assert "Shared floor" in page.get_data(as_text=True)
    assert page.get_data(as_text=True).count("<tr") < 20  # not one row per place of a 10,000-place slot
    big.capacity = 0
    db.session.commit()
    csv_response = manager_client.get("/manage/occupancy.csv?start=2027-01&months=2")
    assert csv_response.mimetype == "text/csv"
    assert csv_response.get_data(as_text=True).splitlines()[1].endswith("2027-01,2,1,0,1,0.50")


def test_residency_lifecycle_pages(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    make_slot(call, capacity=1, ends_on=dt.date(2028, 1, 1))
    application = decided(make_user, call, desired_length_months=6)
    offer = offer_service.confirm_offers(manager_client.user, call, match_runs.match_preview(call).placements, 14, NOW)[0]
    residency = offer_service.accept_offer(application.applicant, offer, NOW)
    db.session.commit()
    token = csrf_token(manager_client, "/manage/residencies")
    response = manager_client.post(f"/manage/residencies/{residency.id}/extend", data={"csrf_token": token, "months": "7"})
    assert response.status_code == 409 and "ends before that" in response.get_data(as_text=True)
    response = manager_client.post(f"/manage/residencies/{residency.id}/extend", data={"csrf_token": token, "months": "x"})
    assert response.status_code == 400
    assert manager_client.post(f"/manage/residencies/{residency.id}/extend",
                               data={"csrf_token": token, "months": "6"}).status_code == 302
    response = manager_client.post(f"/manage/residencies/{residency.id}/end",
                                   data={"csrf_token": token, "ended_on": "2027-03-15"})
    assert response.status_code == 302
    db.session.refresh(residency)
    assert (residency.state, residency.ends_on) == ("ended_early", dt.date(2027, 3, 15))
    assert manager_client.post("/manage/residencies/999/end", data={"csrf_token": token}).status_code == 404


def test_applicant_cannot_open_manager_residency_pages(applicant_client: FlaskClient) -> None:
    for url in ["/manage/slots", "/manage/slots/new", "/manage/occupancy", "/manage/occupancy.csv",
                "/manage/residencies", "/manage/calls/1/match"]:
        assert applicant_client.get(url).status_code == 403, url
    assert db.session.scalar(select(func.count()).select_from(Residency)) == 0


def _rows(html: str, table_id: str) -> int:
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return body.count("<tr")


def test_slots_page_is_paginated_and_searchable(manager_client: FlaskClient) -> None:
    from incubator.services.slots import SLOTS_PER_PAGE

    call = make_call()
    programme = call.programmes[0].programme
    db.session.add_all([Slot(programme=programme, site=programme.host_site, label=f"Desk {n:03d}",
                             space_type="office_desk", capacity=1, starts_on=dt.date(2027, 1, 1),
                             ends_on=dt.date(2028, 1, 1)) for n in range(SLOTS_PER_PAGE + 1)])
    db.session.commit()
    first = manager_client.get("/manage/slots").get_data(as_text=True)
    assert _rows(first, "slots-table") == SLOTS_PER_PAGE and "Page 1 of 2" in first
    second = manager_client.get("/manage/slots?page=2").get_data(as_text=True)
    assert _rows(second, "slots-table") == 1 and f"Desk {SLOTS_PER_PAGE:03d}" in second
    found = manager_client.get("/manage/slots?q=desk 007").get_data(as_text=True)
    assert _rows(found, "slots-table") == 1 and "Desk 007" in found
    assert "No slots found" in manager_client.get("/manage/slots?q=%25").get_data(as_text=True)
    assert manager_client.get("/manage/slots?page=x").status_code == 400  # a page number or nothing
    assert manager_client.get("/manage/slots?programme=y").status_code == 200  # an unknown filter shows all


def test_residencies_page_keyset_pages_search_and_slot_filter(manager_client: FlaskClient, make_user) -> None:
    from incubator.services import residencies as residency_service

    call = make_call()
    one, two = make_slot(call, capacity=100, label="One"), make_slot(call, capacity=100, label="Two")
    for n in range(5):
        application = decided(make_user, call)
        db.session.add(Residency(application_id=application.id, slot_id=(one if n < 4 else two).id, state="active",
                                 starts_on=dt.date(2027, 1 + n, 1), ends_on=dt.date(2028, 1, 1), created_at=NOW,
                                 updated_at=NOW))
    db.session.commit()
    first = residency_service.residency_page(per_page=2)
    second = residency_service.residency_page(per_page=2, after=first.next_after)
    third = residency_service.residency_page(per_page=2, after=second.next_after)
    assert [len(p.items) for p in (first, second, third)] == [2, 2, 1] and third.next_after is None
    starts = [r.starts_on.month for p in (first, second, third) for r in p.items]
    assert starts == [1, 2, 3, 4, 5]
    assert residency_service.residency_page(per_page=5).next_after is None  # exactly one page

    page = manager_client.get(f"/manage/residencies?slot={two.id}").get_data(as_text=True)
    assert _rows(page, "residencies-table") == 1
    name = db.session.scalar(select(Residency).where(Residency.slot_id == two.id)).application.company_name
    assert name in page
    searched = manager_client.get(f"/manage/residencies?q={name}").get_data(as_text=True)
    assert _rows(searched, "residencies-table") == 1
    assert manager_client.get("/manage/residencies?after=garbage&slot=x").status_code == 200


def test_a_residency_that_has_not_started_says_when_it_starts_not_active(manager_client: FlaskClient,
                                                                         make_user) -> None:
    call = make_call()
    slot = make_slot(call, capacity=10)
    today = utcnow().date()
    starts = {"later": (today + dt.timedelta(days=92)).replace(day=1), "running": today - dt.timedelta(days=30)}
    for name, starts_on in starts.items():
        application = decided(make_user, call, company_name=name)
        application.company_name = name
        db.session.add(Residency(application_id=application.id, slot_id=slot.id, state="active", starts_on=starts_on,
                                 ends_on=starts_on + dt.timedelta(days=365), created_at=NOW, updated_at=NOW))
    db.session.commit()
    page = manager_client.get("/manage/residencies").get_data(as_text=True)
    rows = {name: page[page.index(f">{name}</a></td>"):][:800] for name in starts}
    later = starts["later"]
    day = f"{later.day} {later:%B}" + ("" if later.year == today.year else f" {later.year}")
    assert f"starts {day}" in rows["later"] and "active" not in rows["later"].split("</td>")[3]
    assert "<td>active" in rows["running"]
