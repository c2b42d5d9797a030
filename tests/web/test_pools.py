"""The reviewer pool page (managers) and the bidding pages (pool reviewers): every change,
every refusal with its reason and status, paging, and who may open what."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Bid, Call, CallReviewer, Conflict, OutboundEmail, User
from tests.conftest import csrf_token, log_in
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer

NOW = utcnow()


@pytest.fixture
def call(app: Flask) -> Call:
    return make_call(reviewers_per_application=1, timezone="Europe/Oslo",
                     bidding_opens=NOW - dt.timedelta(days=1), bidding_closes=NOW + dt.timedelta(days=2))


def pool_url(call: Call) -> str:
    return f"/manage/calls/{call.id}/pool"


def post(client: FlaskClient, url: str, call: Call, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf_token(client, pool_url(call)), **data})


def in_pool(call: Call, reviewer: User, min_load: int = 0, max_load: int = 10) -> CallReviewer:
    entry = CallReviewer(call_id=call.id, reviewer_id=reviewer.id, min_load=min_load, max_load=max_load)
    db.session.add(entry)
    db.session.commit()
    return entry


def submitted(call: Call, name: str, **fields: Any) -> Application:
    return make_application(make_applicant(), call, state="submitted", complete=True, company_name=name,
                            website=f"https://{name.lower()}.example", **fields)


# --------------------------------------------------------------------------- pool page


def test_pool_page_shows_each_reviewers_workload_and_pages(manager_client: FlaskClient, call: Call) -> None:
    busy = make_reviewer()
    busy.name = "Aaron Busy"
    entry = in_pool(call, busy, min_load=1, max_load=3)
    make_assignment(submitted(call, "Alpha"), busy, due_at=NOW - dt.timedelta(days=1))
    for _ in range(25):
        in_pool(call, make_reviewer())
    page = manager_client.get(pool_url(call)).get_data(as_text=True)
    assert "26 reviewers in the pool" in page and "Page 1 of 2" in page
    row = page.split(f'id="pool-{entry.id}"')[1].split("</tr>")[0]
    assert "Aaron Busy" in row and 'value="1"' in row and 'value="3"' in row
    assert '<span class="badge text-bg-danger">1</span>' in row  # overdue
    assert "Page 2 of 2" in manager_client.get(pool_url(call) + "?page=2").get_data(as_text=True)
    assert page.count('<tr id="pool-') == 25  # no page lists more than its page size


@pytest.mark.parametrize("query", ["page=99999999999999999999", "page=x", "q=ab&search_page=-1"])
def test_pool_page_numbers_out_of_range_are_refused(manager_client: FlaskClient, call: Call, query: str) -> None:
    assert manager_client.get(f"{pool_url(call)}?{query}").status_code == 400


def test_search_needs_two_characters_and_add_puts_a_reviewer_in_the_pool(manager_client: FlaskClient,
                                                                          call: Call) -> None:
    reviewer = make_reviewer()
    short = manager_client.get(pool_url(call) + "?q=r")
    assert short.status_code == 400 and "Type at least 2 characters" in short.get_data(as_text=True)
    found = manager_client.get(pool_url(call) + f"?q={reviewer.email[:12]}").get_data(as_text=True)
    assert reviewer.name in found
    response = post(manager_client, f"{pool_url(call)}/add", call, reviewer_id=reviewer.id)
    assert response.status_code == 302
    assert db.session.scalar(select(CallReviewer.reviewer_id).where(CallReviewer.call_id == call.id)) == reviewer.id
    again = post(manager_client, f"{pool_url(call)}/add", call, reviewer_id=reviewer.id)
    assert again.status_code == 409 and "already in this call&#39;s reviewer pool" in again.get_data(as_text=True)


def test_adding_a_non_reviewer_or_nobody_is_refused(manager_client: FlaskClient, call: Call, make_user: Any) -> None:
    applicant = make_user(Role.APPLICANT)
    refused = post(manager_client, f"{pool_url(call)}/add", call, reviewer_id=applicant.id)
    assert refused.status_code == 400 and "Only active reviewer accounts" in refused.get_data(as_text=True)
    empty = post(manager_client, f"{pool_url(call)}/add", call, reviewer_id="")
    assert empty.status_code == 400 and "Choose a reviewer from the search results" in empty.get_data(as_text=True)
    assert post(manager_client, f"{pool_url(call)}/add", call, reviewer_id=999999).status_code == 404


def test_invite_sends_an_invitation_and_bad_input_is_explained(manager_client: FlaskClient, call: Call) -> None:
    bad = post(manager_client, f"{pool_url(call)}/invite", call, name="Nina", email="not-an-email")
    assert bad.status_code == 400 and "Enter a valid email address" in bad.get_data(as_text=True)
    good = post(manager_client, f"{pool_url(call)}/invite", call, name="Nina Reviewer", email="nina@example.org")
    assert good.status_code == 302
    assert db.session.scalar(select(OutboundEmail.to_address).where(OutboundEmail.kind == "invitation")) == \
        "nina@example.org"
    user = db.session.scalar(select(User).where(User.email == "nina@example.org"))
    assert user.role == "reviewer" and user.invited_by_id == manager_client.user.id
    taken = post(manager_client, f"{pool_url(call)}/invite", call, name="Nina", email="nina@example.org")
    assert taken.status_code == 400 and "already exists" in taken.get_data(as_text=True)


def loads(client: FlaskClient, call: Call, entry: CallReviewer, min_load: Any, max_load: Any) -> Any:
    token = csrf_token(client, pool_url(call))
    return client.post(f"{pool_url(call)}/{entry.id}/loads", data={
        f"e{entry.id}-csrf_token": token, f"e{entry.id}-min_load": min_load, f"e{entry.id}-max_load": max_load})


def test_loads_are_saved_and_refusals_say_why(manager_client: FlaskClient, call: Call) -> None:
    reviewer = make_reviewer()
    entry = in_pool(call, reviewer)
    make_assignment(submitted(call, "Alpha"), reviewer)
    make_assignment(submitted(call, "Beta"), reviewer)
    upside_down = loads(manager_client, call, entry, 5, 3)
    assert upside_down.status_code == 400
    assert "The minimum load (5) is above the maximum (3)." in upside_down.get_data(as_text=True)
    row = upside_down.get_data(as_text=True).split(f'id="pool-{entry.id}"')[1].split("</tr>")[0]
    assert 'value="5"' in row and "is-invalid" in row  # the refused row is shown as typed
    blank = loads(manager_client, call, entry, "", 3)
    assert blank.status_code == 400 and "Enter a minimum load" in blank.get_data(as_text=True)
    too_low = loads(manager_client, call, entry, 0, 1)
    assert too_low.status_code == 409 and "already reviews 2 applications" in too_low.get_data(as_text=True)
    assert loads(manager_client, call, entry, 2, 4).status_code == 302
    db.session.refresh(entry)
    assert (entry.min_load, entry.max_load) == (2, 4)


def test_removing_a_reviewer_with_work_is_refused(manager_client: FlaskClient, call: Call) -> None:
    reviewer = make_reviewer()
    entry = in_pool(call, reviewer)
    assignment = make_assignment(submitted(call, "Alpha"), reviewer)
    refused = post(manager_client, f"{pool_url(call)}/{entry.id}/remove", call)
    assert refused.status_code == 409 and "unassign them first" in refused.get_data(as_text=True)
    db.session.delete(assignment)
    db.session.commit()
    assert post(manager_client, f"{pool_url(call)}/{entry.id}/remove", call).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(CallReviewer).where(CallReviewer.call_id == call.id)) is None


def test_bidding_window_is_read_in_the_calls_time_zone(manager_client: FlaskClient, call: Call) -> None:
    wrong = post(manager_client, f"{pool_url(call)}/bidding", call,
                 bidding_opens="2027-03-10T12:00", bidding_closes="2027-03-01T12:00")
    assert wrong.status_code == 400 and "Bidding must close after it opens." in wrong.get_data(as_text=True)
    half = post(manager_client, f"{pool_url(call)}/bidding", call, bidding_opens="2027-03-10T12:00")
    assert half.status_code == 400 and "both the opening and the closing" in half.get_data(as_text=True)
    ok = post(manager_client, f"{pool_url(call)}/bidding", call,
              bidding_opens="2027-03-01T12:00", bidding_closes="2027-03-10T12:00")
    assert ok.status_code == 302
    db.session.refresh(call)
    assert call.bidding_opens == dt.datetime(2027, 3, 1, 11, 0, tzinfo=dt.UTC)  # 12:00 CET
    assert call.bidding_closes == dt.datetime(2027, 3, 10, 11, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize("role", [Role.REVIEWER, Role.APPLICANT])
def test_pool_pages_are_for_managers_only(app: Flask, make_user: Any, call: Call, role: Role) -> None:
    user = make_user(role)
    client = app.test_client()
    log_in(client, user.email)
    assert client.get(pool_url(call)).status_code == 403
    assert client.post(f"{pool_url(call)}/bidding", data={}).status_code in (400, 403)
    assert client.post(f"{pool_url(call)}/invite", data={}).status_code in (400, 403)


def test_unknown_call_or_entry_is_not_found(manager_client: FlaskClient, call: Call) -> None:
    assert manager_client.get("/manage/calls/999999/pool").status_code == 404
    other = make_call()
    entry = in_pool(other, make_reviewer())
    assert loads(manager_client, call, entry, 0, 1).status_code == 404  # an entry of another call


# ----------------------------------------------------------------------------- bidding


@pytest.fixture
def bidder(reviewer_client: FlaskClient, call: Call) -> FlaskClient:
    in_pool(call, reviewer_client.user)
    return reviewer_client


def bids_url(call: Call) -> str:
    return f"/review/calls/{call.id}/bids"


def bid(client: FlaskClient, call: Call, application: Application, level: str, reason: str = "") -> Any:
    return client.post(f"{bids_url(call)}/{application.id}", data={
        "csrf_token": csrf_token(client, bids_url(call)), "level": level, "reason": reason})


def test_pool_reviewer_bids_and_filters_by_focus_area(bidder: FlaskClient, call: Call) -> None:
    immuno = submitted(call, "Immunova", focus_area="immuno_oncology")
    submitted(call, "Scalpelly", focus_area="medtech")
    listing = bidder.get("/review/bidding").get_data(as_text=True)
    assert call.title in listing
    filtered = bidder.get(bids_url(call) + "?focus=immuno_oncology").get_data(as_text=True)
    assert "Immunova" in filtered and "Scalpelly" not in filtered
    assert bid(bidder, call, immuno, "eager").status_code == 302
    assert db.session.scalar(select(Bid.level).where(Bid.application_id == immuno.id)) == "eager"
    page = bidder.get(bids_url(call)).get_data(as_text=True)
    assert '<option value="eager" selected>' in page


def test_bids_pages_page_through_applications(bidder: FlaskClient, call: Call) -> None:
    for number in range(21):
        submitted(call, f"Company{number:02d}")
    first = bidder.get(bids_url(call)).get_data(as_text=True)
    assert "Page 1 of 2" in first and "Company20" not in first
    assert "Company20" in bidder.get(bids_url(call) + "?page=2").get_data(as_text=True)


def test_conflict_bid_records_a_declared_conflict_and_hides_the_application(bidder: FlaskClient,
                                                                             call: Call) -> None:
    application = submitted(call, "Conflicta")
    assert bid(bidder, call, application, "conflict", "My sister founded it").status_code == 302
    conflict = db.session.scalar(select(Conflict))
    assert (conflict.reviewer_id, conflict.source, conflict.reason) == (bidder.user.id, "declared",
                                                                         "My sister founded it")
    assert f'id="bid-{application.id}"' not in bidder.get(bids_url(call)).get_data(as_text=True)


def test_bid_refusals_say_why(bidder: FlaskClient, call: Call) -> None:
    application = submitted(call, "Alpha")
    unknown = bid(bidder, call, application, "maybe")
    assert unknown.status_code == 400 and "Not a valid choice" in unknown.get_data(as_text=True)
    call.bidding_closes = NOW - dt.timedelta(minutes=1)
    db.session.commit()
    closed = bid(bidder, call, application, "eager")
    assert closed.status_code == 409 and "Bidding for this call is not open." in closed.get_data(as_text=True)
    assert db.session.scalar(select(Bid)) is None


def test_bidding_pages_are_not_found_outside_the_pool(reviewer_client: FlaskClient, call: Call,
                                                       applicant_client: FlaskClient) -> None:
    application = submitted(call, "Alpha")
    assert reviewer_client.get(bids_url(call)).status_code == 404
    token = csrf_token(reviewer_client, "/review/profile")
    outside = reviewer_client.post(f"{bids_url(call)}/{application.id}", data={"csrf_token": token, "level": "eager"})
    assert outside.status_code == 404 and db.session.scalar(select(Bid)) is None
    assert applicant_client.get(bids_url(call)).status_code == 403
    other = make_call()
    assert reviewer_client.get(f"/review/calls/{other.id}/bids").status_code == 404
