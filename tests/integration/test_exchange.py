"""The exchange recorded (issue 12 item 4): directions derived when applying and placing, and the
yearly balance on a known dataset, in the service, on the page and in the CSV."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incubator.database import utcnow
from incubator.domain.exchange import RECEIVED, SENT, exchange_direction, residency_months
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, Offer, Partner, Programme, ProgrammeScope, Residency, Slot, User
from incubator.services.exchange import (
    ExchangeYear,
    application_direction,
    exchange_balance,
    residency_direction,
)
from incubator.services.offers import accept_offer
from tests.conftest import csrf_token, log_in
from tests.factories import make_application, make_call
from tests.integration.test_residencies_service import make_slot
from tests.web.test_apply import submit


@pytest.mark.parametrize(("company", "exchange_for", "host", "expected"), [
    ("NO", "NO", "SE", "NO-SE"),
    ("SE", "SE", "NO", "SE-NO"),
    ("NO", "SE", "NO", None),  # a Norwegian company in Oslo: not the exchange
    ("DK", "NO", "SE", None),  # the exchange is for Norwegian companies only
    ("NO", None, "SE", None),  # a programme outside the exchange
    (None, "NO", "SE", None),  # no country given yet
    ("NO", "NO", "NO", None),  # misconfigured: the host's own country
])
def test_direction(company: str | None, exchange_for: str | None, host: str, expected: str | None) -> None:
    assert exchange_direction(company, exchange_for, host) == expected


@pytest.mark.parametrize(("starts", "ends", "months"), [
    (dt.date(2027, 1, 1), dt.date(2028, 1, 1), 12),
    (dt.date(2027, 3, 1), dt.date(2027, 6, 15), 4),  # ended early mid-June: June counts
    (dt.date(2027, 11, 1), dt.date(2028, 2, 1), 3),
    (dt.date(2027, 1, 1), dt.date(2027, 1, 2), 1),
])
def test_residency_months(starts: dt.date, ends: dt.date, months: int) -> None:
    assert residency_months(starts, ends) == months


def exchange_call() -> tuple[Call, Programme, Programme]:
    """The factory call with OCC (Oslo) the exchange for SE and BioVentureHub (Gothenburg) for NO."""
    call = make_call()
    occ, bvh = (entry.programme for entry in call.programmes)
    occ.exchange_for_country, bvh.exchange_for_country = "SE", "NO"
    call.programmes[1].eligible_countries = []
    db.session.commit()
    return call, occ, bvh


def stay(make_user: Callable[..., User], call: Call, slot: Slot, country: str, starts: dt.date,
         ends: dt.date) -> Residency:
    application = make_application(make_user(), call, state="accepted", complete=True, country=country)
    residency = Residency(application_id=application.id, slot=slot, starts_on=starts, ends_on=ends,
                          exchange_direction=residency_direction(application, slot))
    db.session.add(residency)
    db.session.commit()
    return residency


@pytest.fixture
def known_dataset(app: Flask, make_user: Callable[..., User]) -> tuple[Programme, Programme]:
    """2027: two Norwegian startups in Gothenburg (12 and 4 months), one Swedish in Oslo (6);
    2028: one Swedish in Oslo (12). A Norwegian startup in Oslo is outside the exchange."""
    call, occ, bvh = exchange_call()
    oslo, gothenburg = make_slot(call, programme=0, capacity=5), make_slot(call, programme=1, capacity=5)
    stay(make_user, call, gothenburg, "NO", dt.date(2027, 1, 1), dt.date(2028, 1, 1))
    stay(make_user, call, gothenburg, "NO", dt.date(2027, 3, 1), dt.date(2027, 6, 15))
    stay(make_user, call, oslo, "SE", dt.date(2027, 2, 1), dt.date(2027, 8, 1))
    stay(make_user, call, oslo, "SE", dt.date(2028, 1, 1), dt.date(2029, 1, 1))
    local = stay(make_user, call, oslo, "NO", dt.date(2027, 1, 1), dt.date(2028, 1, 1))
    assert local.exchange_direction is None
    return occ, bvh


def test_balance_per_year_on_a_known_dataset(known_dataset: tuple[Programme, Programme]) -> None:
    assert exchange_balance() == [
        ExchangeYear(year=2027, sent=2, sent_months=16, received=1, received_months=6),
        ExchangeYear(year=2028, sent=0, sent_months=0, received=1, received_months=12),
    ]
    assert exchange_balance()[0].balance == 1


def test_balance_of_some_programmes(known_dataset: tuple[Programme, Programme]) -> None:
    occ, bvh = known_dataset
    assert exchange_balance([bvh.id]) == [ExchangeYear(2027, 2, 16, 0, 0)]
    assert exchange_balance([occ.id]) == [ExchangeYear(2027, 0, 0, 1, 6), ExchangeYear(2028, 0, 0, 1, 12)]
    assert exchange_balance([]) == []


def test_empty_balance(app: Flask) -> None:
    assert exchange_balance() == []


def test_application_direction_follows_the_first_choice(app: Flask, make_user: Callable[..., User]) -> None:
    call, occ, bvh = exchange_call()
    application = make_application(make_user(), call, state="draft", complete=True, country="NO")
    assert application_direction(application) is None  # first choice OCC in Oslo
    application.preferences[0].programme_id = bvh.id
    db.session.commit()
    db.session.refresh(application.preferences[0])
    assert application_direction(application) == SENT
    application.country = "SE"
    assert application_direction(application) is None


def test_submitting_records_the_direction(app: Flask, applicant_client: FlaskClient) -> None:
    call, _occ, bvh = exchange_call()
    applicant = applicant_client.user  # type: ignore[attr-defined]
    application = make_application(applicant, call, state="draft", complete=True, country="NO")
    application.preferences[0].programme_id = bvh.id
    db.session.commit()
    response = submit(applicant_client, application.id)
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    assert application.state == "submitted" and application.exchange_direction == SENT


def test_accepting_an_offer_records_the_direction(app: Flask, make_user: Callable[..., User]) -> None:
    call, _occ, _bvh = exchange_call()
    oslo = make_slot(call, programme=0)
    applicant = make_user()
    application = make_application(applicant, call, state="accepted", complete=True, country="SE",
                                   decision_released_at=utcnow())
    now = utcnow()
    offer = Offer(application=application, slot=oslo, state="offered", starts_on=dt.date(2027, 1, 1),
                  ends_on=dt.date(2028, 1, 1), response_deadline=now + dt.timedelta(days=7), offered_at=now)
    db.session.add(offer)
    db.session.commit()
    residency = accept_offer(applicant, offer, now)
    db.session.commit()
    assert residency.exchange_direction == RECEIVED


def test_report_page_and_csv(known_dataset: tuple[Programme, Programme], manager_client: FlaskClient) -> None:
    page = manager_client.get("/manage/exchange")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<th scope=\"row\">2027</th>" in text and "+1" in text
    csv_text = manager_client.get("/manage/exchange.csv").get_data(as_text=True)
    assert csv_text.splitlines()[1:] == ["2027,2,16,1,6,1", "2028,0,0,1,12,-1"]
    _occ, bvh = known_dataset
    only_bvh = manager_client.get(f"/manage/exchange.csv?programme={bvh.id}")
    assert only_bvh.get_data(as_text=True).splitlines()[1:] == ["2027,2,16,0,0,2"]
    assert "exchange-bioventurehub-exchange.csv" in only_bvh.headers["Content-Disposition"]


@pytest.mark.parametrize("value", ["x", "-1", "0", "99999999999999999999"])
def test_report_refuses_a_bad_programme(known_dataset: tuple[Programme, Programme], manager_client: FlaskClient,
                                        value: str) -> None:
    assert manager_client.get(f"/manage/exchange?programme={value}").status_code in (400, 404)


@pytest.fixture
def bioventurehub_manager(app: Flask, known_dataset: tuple[Programme, Programme],
                          make_user: Callable[..., User]) -> FlaskClient:
    """A manager limited to the BioVentureHub exchange, signed in."""
    _occ, bvh = known_dataset
    manager = make_user(Role.MANAGER)
    db.session.add(ProgrammeScope(user_id=manager.id, programme_id=bvh.id))
    db.session.commit()
    client = app.test_client()
    log_in(client, manager.email)
    return client


def test_scoped_manager_sees_their_share_of_the_exchange(bioventurehub_manager: FlaskClient) -> None:
    client = bioventurehub_manager
    assert client.get("/manage/exchange.csv").get_data(as_text=True).splitlines()[1:] == ["2027,2,16,0,0,2"]


def _programme_form(programme: Programme, exchange_for: str) -> dict[str, str]:
    return {"name": programme.name, "slug": programme.slug, "partner_id": str(programme.partner_id),
            "host_site_id": str(programme.host_site_id), "summary": "", "offers": "office",
            "exchange_for_country": exchange_for}


@pytest.mark.parametrize(("exchange_for", "status", "stored"), [
    ("NO", 302, "NO"), ("", 302, None), ("SE", 400, "unchanged"), ("XX", 400, "unchanged")])
def test_manager_marks_a_programme_as_the_exchange(app: Flask, manager_client: FlaskClient, exchange_for: str,
                                                    status: int, stored: str | None) -> None:
    _call, _occ, bvh = exchange_call()
    bvh.partner = Partner(name="AstraZeneca BioVentureHub")
    db.session.commit()
    path = f"/manage/programmes/{bvh.id}/edit"
    response = manager_client.post(path, data={**_programme_form(bvh, exchange_for),
                                               "csrf_token": csrf_token(manager_client, path)})
    assert response.status_code == status, response.get_data(as_text=True)
    db.session.expire_all()
    assert bvh.exchange_for_country == ("NO" if stored == "unchanged" else stored)  # Gothenburg is in SE


def test_a_programme_staff_are_limited_to_is_not_deleted(app: Flask, manager_client: FlaskClient,
                                                         make_user: Callable[..., User]) -> None:
    """Deleting it would silently give those accounts every programme."""
    _call = make_call()
    lonely = Programme(slug="lonely", name="Lonely", host_site_id=_call.programmes[0].programme.host_site_id)
    db.session.add(lonely)
    db.session.commit()
    db.session.add(ProgrammeScope(user_id=make_user(Role.MANAGER).id, programme_id=lonely.id))
    db.session.commit()
    path = f"/manage/programmes/{lonely.id}/delete"
    response = manager_client.post(path, data={"csrf_token": csrf_token(manager_client, f"/manage/programmes/{lonely.id}/edit")})
    assert response.status_code == 409, response.status_code
    assert "1 staff account limited to it" in response.get_data(as_text=True)
    assert db.session.get(Programme, lonely.id) is not None


def _exchange_table(client: FlaskClient, year: int) -> list[tuple[str, list[str]]]:
    from tests.web.test_insights_pages import figures

    response = client.get(f"/manage/insights?year={year}")
    assert response.status_code == 200
    marks, rows = figures(response.get_data(as_text=True))["exchange"]
    assert len(marks) == 2 * len(rows)  # a point per year on each of the two lines
    return rows


def test_insights_draw_the_exchange_balance_of_every_year(known_dataset: tuple[Programme, Programme],
                                                          manager_client: FlaskClient) -> None:
    assert _exchange_table(manager_client, 2027) == [
        (str(row.year), [str(row.sent), str(row.sent_months), str(row.received), str(row.received_months)])
        for row in exchange_balance()
    ] == [("2027", ["2", "16", "1", "6"]), ("2028", ["0", "0", "1", "12"])]


def test_a_scoped_manager_sees_their_share_in_the_insights(bioventurehub_manager: FlaskClient) -> None:
    assert _exchange_table(bioventurehub_manager, 2027) == [("2027", ["2", "16", "0", "0"])]
