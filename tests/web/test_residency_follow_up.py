"""The manager's follow-up page of a residency through the test client: every form saves what
it should and refuses bad input with a message and a 4xx, and only managers see it."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from incubator.domain.check_ins import check_in_dates
from incubator.extensions import db
from incubator.models import Residency, ResidencyCheckIn, ResidencyReport, ResidencySupport
from tests.conftest import csrf_token
from tests.integration.test_residency_follow_up import make_residency


@pytest.fixture
def residency(app, make_user) -> Residency:
    # Began two years ago: its first check-ins are behind us, so they can be recorded today.
    today = dt.date.today()
    return make_residency(make_user, starts_on=dt.date(today.year - 2, today.month, 1),
                          ends_on=dt.date(today.year + 1, today.month, 1), company="Followed AS")


def page_of(residency: Residency) -> str:
    return f"/manage/residencies/{residency.id}"


def post(client: FlaskClient, residency: Residency, action: str, prefix: str, **fields: str):
    token = csrf_token(client, page_of(residency))
    data = {f"{prefix}-{name}": value for name, value in fields.items()}
    return client.post(f"{page_of(residency)}/{action}", data={**data, f"{prefix}-csrf_token": token})


def test_the_residencies_list_links_to_the_follow_up_page(manager_client: FlaskClient, residency) -> None:
    listing = manager_client.get("/manage/residencies").get_data(as_text=True)
    assert f'href="/manage/residencies/{residency.id}"' in listing
    page = manager_client.get(page_of(residency)).get_data(as_text=True)
    assert "Follow-up: Followed AS" in page and "Quarterly check-ins" in page
    assert page.count("<tr>") == 1 + 11  # header + a check-in every three months over three years


def test_the_follow_up_page_shows_the_exchange_direction_when_there_is_one(manager_client: FlaskClient,
                                                                          residency) -> None:
    assert 'id="exchange-direction"' not in manager_client.get(page_of(residency)).get_data(as_text=True)
    residency.exchange_direction = "SE-NO"
    db.session.commit()
    assert "Exchange: Sweden → Norway (SE→NO)" in manager_client.get(page_of(residency)).get_data(as_text=True)


def test_manager_records_support_then_its_decision(manager_client: FlaskClient, residency) -> None:
    response = post(manager_client, residency, "support", "support", programme="innovation_norway", status="applied",
                    amount="750000", currency="NOK", applied_on="2026-02-01", programme_name="", decided_on="")
    assert response.status_code == 302
    support = db.session.scalar(select(ResidencySupport))
    assert (support.programme, support.amount, support.status) == ("innovation_norway", 750_000, "applied")
    response = post(manager_client, residency, "support/status", "status", support_id=str(support.id),
                    status="granted", decided_on="2026-04-01")
    assert response.status_code == 302
    db.session.refresh(support)
    assert (support.status, support.decided_on) == ("granted", dt.date(2026, 4, 1))
    page = manager_client.get(page_of(residency)).get_data(as_text=True)
    assert "Innovation Norway" in page and "750,000 NOK" in page


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"programme": "lottery"}, 400, "Not a valid choice"),
    ({"programme": "other", "programme_name": ""}, 409, "Name the other programme"),
    ({"amount": "-5"}, 400, "from 0 to 100,000,000,000"),
    ({"amount": "lots"}, 400, "Not a valid integer value"),
    ({"currency": "BTC"}, 400, "Not a valid choice"),
    ({"applied_on": "yesterday"}, 400, "Not a valid date value"),
    ({"status": "declined", "applied_on": "2026-03-01", "decided_on": "2026-01-01"}, 409, "cannot come before"),
])
def test_bad_support_is_refused_with_a_message(manager_client: FlaskClient, residency, fields, status,
                                               message) -> None:
    values = {"programme": "innovation_norway", "status": "applied", "amount": "", "currency": "NOK",
              "applied_on": "", "decided_on": "", "programme_name": "", **fields}
    response = post(manager_client, residency, "support", "support", **values)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ResidencySupport)) == 0


def test_a_support_status_needs_a_support_of_this_residency(manager_client: FlaskClient, residency,
                                                            make_user) -> None:
    other = make_residency(make_user, company="Elsewhere AS")
    db.session.add(ResidencySupport(residency_id=other.id, programme="innovation_norway", status="applied",
                                    currency="NOK"))
    db.session.commit()
    elsewhere = db.session.scalar(select(ResidencySupport))
    for support_id, status in [(str(elsewhere.id), 409), ("abc", 400), ("99999999999999", 400)]:
        response = post(manager_client, residency, "support/status", "status", support_id=support_id,
                        status="granted", decided_on="")
        assert response.status_code == status, support_id
    db.session.refresh(elsewhere)
    assert elsewhere.status == "applied"


def test_manager_records_a_check_in_and_bad_ones_are_refused(manager_client: FlaskClient, residency) -> None:
    assert "Record check-in" in manager_client.get(page_of(residency)).get_data(as_text=True)
    first_due = check_in_dates(residency.starts_on, residency.ends_on)[0]
    last_due = check_in_dates(residency.starts_on, residency.ends_on)[-1]
    for fields, status in [({"due_on": "2000-01-01", "notes": "x"}, 400),
                           ({"due_on": first_due.isoformat(), "notes": ""}, 400),
                           ({"due_on": residency.ends_on.isoformat(), "notes": "x"}, 400),
                           ({"due_on": first_due.isoformat(), "notes": "x" * 5001}, 400),
                           ({"due_on": last_due.isoformat(), "notes": "Too early"}, 409)]:
        response = post(manager_client, residency, "check-ins", "checkin", milestones="", **fields)
        assert response.status_code == status, fields
    assert db.session.scalar(select(func.count()).select_from(ResidencyCheckIn)) == 0
    response = post(manager_client, residency, "check-ins", "checkin", due_on=first_due.isoformat(),
                    notes="Hired a CMC lead", milestones="Pre-IND meeting held")
    assert response.status_code == 302
    check_in = db.session.scalar(select(ResidencyCheckIn))
    assert (check_in.due_on, check_in.notes, check_in.milestones) == (first_due, "Hired a CMC lead",
                                                                       "Pre-IND meeting held")
    assert "Hired a CMC lead" in manager_client.get(page_of(residency)).get_data(as_text=True)


def test_membership_and_end_report(manager_client: FlaskClient, residency) -> None:
    assert post(manager_client, residency, "membership", "membership", member_since="2999-01-01").status_code == 409
    assert post(manager_client, residency, "membership", "membership", member_since="soon").status_code == 400
    assert post(manager_client, residency, "membership", "membership", member_since="2026-03-01").status_code == 302
    db.session.refresh(residency)
    assert residency.occ_member_since == dt.date(2026, 3, 1)
    for fields in [{"outcomes": ""}, {"outcomes": "Grew", "jobs_created": "-1"},
                   {"outcomes": "Grew", "funding_raised": "1e99"}, {"outcomes": "Grew", "funding_currency": "XX"}]:
        values = {"jobs_created": "", "funding_raised": "", "funding_currency": "NOK", **fields}
        assert post(manager_client, residency, "report", "report", **values).status_code == 400, fields
    response = post(manager_client, residency, "report", "report", outcomes="Phase I started", jobs_created="6",
                    funding_raised="40000000", funding_currency="SEK")
    assert response.status_code == 302
    report = db.session.get(ResidencyReport, residency.id)
    assert (report.outcomes, report.jobs_created, report.funding_raised, report.funding_currency) == (
        "Phase I started", 6, 40_000_000, "SEK")


def test_only_managers_see_or_change_a_follow_up(app, client: FlaskClient, reviewer_client: FlaskClient,
                                                 applicant_client: FlaskClient, manager_client: FlaskClient,
                                                 residency) -> None:
    assert client.get(page_of(residency)).status_code == 302  # to log in
    assert reviewer_client.get(page_of(residency)).status_code == 403
    assert applicant_client.get(page_of(residency)).status_code == 403
    assert manager_client.get("/manage/residencies/99999").status_code == 404
    token = csrf_token(reviewer_client, "/notifications/")
    response = reviewer_client.post(f"{page_of(residency)}/membership",
                                    data={"membership-member_since": "2026-01-01", "membership-csrf_token": token})
    assert response.status_code == 403
    db.session.refresh(residency)
    assert residency.occ_member_since is None
