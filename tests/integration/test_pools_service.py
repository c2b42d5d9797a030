"""Reviewer pools and bidding on a real database: who is in a call's pool and with which loads,
bids and their refusals, and how pool loads and bids steer the automatic assignment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Bid,
    Call,
    CallReviewer,
    Conflict,
    OutboundEmail,
    Review,
    User,
)
from incubator.services import ServiceError
from incubator.services.assignments import assign_reviewer, auto_assign
from incubator.services.pools import (
    PoolRefused,
    add_to_pool,
    invite_to_pool,
    place_bid,
    remove_from_pool,
    reviewer_search_query,
    set_bidding_window,
    set_pool_loads,
    workloads,
)
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer

NOW = utcnow()
IMMUNO = {"focus_area": "immuno_oncology",
          "project_summary": "A personalised cancer vaccine that primes T cells against tumour neoantigens."}
IMMUNO_EXPERT = {"focus_areas": ["immuno_oncology"], "expertise": "T cells, neoantigens, cancer vaccines"}
OUTSIDER = {"focus_areas": ["medtech"], "expertise": "surgical devices"}


@pytest.fixture(autouse=True)
def request_context(app: Flask) -> Iterator[None]:
    with app.test_request_context():  # emails are rendered with url_for
        yield


@pytest.fixture
def manager(make_user: Any) -> User:
    return make_user(Role.MANAGER)


def bidding_call(**overrides: Any) -> Call:
    values = {"reviewers_per_application": 1, "bidding_opens": NOW - dt.timedelta(days=1),
              "bidding_closes": NOW + dt.timedelta(days=1)}
    return make_call(**{**values, **overrides})


def submitted(call: Call, name: str, **fields: Any) -> Application:
    values = {"company_name": name, "website": f"https://{name.lower()}.example", **IMMUNO, **fields}
    return make_application(make_applicant(), call, state="submitted", complete=True, **values)


def pooled(manager: User, call: Call, reviewer: User, min_load: int = 0, max_load: int = 10) -> CallReviewer:
    entry = add_to_pool(manager, call, reviewer, NOW)
    set_pool_loads(manager, entry, min_load, max_load)
    db.session.commit()
    return entry


def assigned_pairs(call: Call) -> set[tuple[int, int]]:
    rows = db.session.execute(select(Assignment.reviewer_id, Assignment.application_id)
                              .join(Application, Application.id == Assignment.application_id)
                              .where(Application.call_id == call.id)).all()
    return {(r, a) for r, a in rows}


# ------------------------------------------------------------------------ pool and loads


def test_pool_minimum_load_reaches_the_solver(manager: User) -> None:
    call = bidding_call()
    first, second = submitted(call, "Alpha"), submitted(call, "Beta")
    expert, outsider = make_reviewer(**IMMUNO_EXPERT), make_reviewer(**OUTSIDER)
    pooled(manager, call, expert)
    pooled(manager, call, outsider, min_load=2)
    report = auto_assign(manager, call, now=NOW)
    # Without the minimum the expert would take both; the outsider's minimum wins first.
    assert assigned_pairs(call) == {(outsider.id, first.id), (outsider.id, second.id)}
    assert report.underloaded == []


def test_pool_maximum_load_overrides_the_profile(manager: User) -> None:
    call = bidding_call()
    first, second = submitted(call, "Alpha"), submitted(call, "Beta")
    expert, outsider = make_reviewer(max_load=10, **IMMUNO_EXPERT), make_reviewer(**OUTSIDER)
    pooled(manager, call, expert, max_load=1)
    pooled(manager, call, outsider)
    auto_assign(manager, call, now=NOW)
    pairs = assigned_pairs(call)
    assert len(pairs) == 2 and sum(1 for r, _ in pairs if r == expert.id) == 1
    assert {a for _, a in pairs} == {first.id, second.id}


def test_assigning_by_hand_respects_the_pool_maximum(manager: User) -> None:
    call = bidding_call()
    first, second = submitted(call, "Alpha"), submitted(call, "Beta")
    reviewer = make_reviewer(max_load=10)
    pooled(manager, call, reviewer, max_load=1)
    assign_reviewer(manager, first, reviewer, NOW)
    with pytest.raises(ServiceError, match="their maximum of 1"):
        assign_reviewer(manager, second, reviewer, NOW)


def test_reviewers_outside_a_calls_pool_are_never_auto_assigned(manager: User) -> None:
    call = bidding_call()
    application = submitted(call, "Alpha")
    make_reviewer(**IMMUNO_EXPERT)  # a better fit, but not in the pool
    outsider = make_reviewer(**OUTSIDER)
    pooled(manager, call, outsider)
    auto_assign(manager, call, now=NOW)
    assert assigned_pairs(call) == {(outsider.id, application.id)}


def test_adding_a_reviewer_twice_or_a_non_reviewer_is_refused(manager: User, make_user: Any) -> None:
    call = bidding_call()
    reviewer = make_reviewer(max_load=4)
    entry = add_to_pool(manager, call, reviewer, NOW)
    assert (entry.min_load, entry.max_load) == (0, 4)  # the profile's maximum to start with
    with pytest.raises(PoolRefused, match="already in this call's reviewer pool"):
        add_to_pool(manager, call, reviewer, NOW)
    with pytest.raises(ServiceError, match="Only active reviewer accounts"):
        add_to_pool(manager, call, make_user(Role.APPLICANT), NOW)
    with pytest.raises(ServiceError, match="Only programme managers"):
        add_to_pool(reviewer, call, make_reviewer(), NOW)


@pytest.mark.parametrize(("min_load", "max_load", "message"), [
    (-1, 3, "minimum load is a whole number"),
    (0, 201, "maximum load is a whole number"),
    (4, 3, r"minimum load \(4\) is above the maximum \(3\)"),
])
def test_bad_pool_loads_are_refused_with_the_reason(manager: User, min_load: int, max_load: int,
                                                     message: str) -> None:
    call = bidding_call()
    entry = add_to_pool(manager, call, make_reviewer(), NOW)
    with pytest.raises(ServiceError, match=message):
        set_pool_loads(manager, entry, min_load, max_load)


def test_maximum_below_the_work_already_given_is_refused_and_so_is_removal(manager: User) -> None:
    call = bidding_call()
    reviewer = make_reviewer()
    entry = pooled(manager, call, reviewer)
    for name in ("Alpha", "Beta"):
        make_assignment(submitted(call, name), reviewer)
    with pytest.raises(PoolRefused, match="already reviews 2 applications"):
        set_pool_loads(manager, entry, 0, 1)
    with pytest.raises(PoolRefused, match="unassign them first"):
        remove_from_pool(manager, entry)
    set_pool_loads(manager, entry, 1, 2)
    assert (entry.min_load, entry.max_load) == (1, 2)


def test_inviting_a_new_reviewer_sends_the_invitation_and_pools_them(manager: User) -> None:
    call = bidding_call()
    entry = invite_to_pool(manager, call, "New.Reviewer@Example.org", "Nina Reviewer", NOW)
    db.session.commit()
    assert entry.reviewer.email == "new.reviewer@example.org" and entry.reviewer.role == "reviewer"
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "invitation"))
    assert email.to_address == "new.reviewer@example.org"
    with pytest.raises(ServiceError, match="already exists"):
        invite_to_pool(manager, call, "new.reviewer@example.org", "Again", NOW)


def test_reviewer_search_needs_two_characters_and_skips_the_pool(manager: User, make_user: Any) -> None:
    call = bidding_call()
    inside = make_reviewer()
    pooled(manager, call, inside)
    outside = make_reviewer()
    make_user(Role.MANAGER, name="Reviewer Manager")  # not a reviewer
    with pytest.raises(ServiceError, match="at least 2 characters"):
        reviewer_search_query(call, " r ")
    found = list(db.session.scalars(reviewer_search_query(call, "REVIEWER")))
    assert outside in found and inside not in found and all(u.role == "reviewer" for u in found)


def test_workloads_count_assigned_done_and_overdue_across_calls(manager: User) -> None:
    reviewer = make_reviewer()
    first, second = bidding_call(), bidding_call()
    done = submitted(first, "Done")
    make_assignment(done, reviewer, due_at=NOW - dt.timedelta(days=1))
    db.session.add(Review(application_id=done.id, reviewer_id=reviewer.id, state="submitted", submitted_at=NOW))
    make_assignment(submitted(second, "Late"), reviewer, due_at=NOW - dt.timedelta(days=1))
    make_assignment(submitted(second, "Upcoming"), reviewer, due_at=NOW + dt.timedelta(days=3))
    decided = make_application(make_applicant(), second, state="rejected", complete=True)
    make_assignment(decided, reviewer)  # decided: no longer work
    db.session.commit()
    load = workloads([reviewer.id], NOW)[reviewer.id]
    assert (load.assigned, load.done, load.overdue) == (3, 1, 1)


# ------------------------------------------------------------------------------ bidding


def test_bidding_window_must_be_both_or_neither_and_in_order(manager: User) -> None:
    call = bidding_call()
    with pytest.raises(ServiceError, match="both the opening and the closing"):
        set_bidding_window(manager, call, NOW, None)
    with pytest.raises(ServiceError, match="close after it opens"):
        set_bidding_window(manager, call, NOW, NOW - dt.timedelta(hours=1))
    set_bidding_window(manager, call, None, None)
    assert call.bidding_opens is None and not call.bidding_is_open(NOW)


def test_a_bid_is_one_row_per_pair_and_can_change(manager: User) -> None:
    call = bidding_call()
    application, reviewer = submitted(call, "Alpha"), make_reviewer()
    pooled(manager, call, reviewer)
    place_bid(reviewer, application, "willing", NOW)
    place_bid(reviewer, application, "eager", NOW)
    db.session.commit()
    assert db.session.scalars(select(Bid.level)).all() == ["eager"]


@pytest.mark.parametrize("case", ["not_in_pool", "window_closed", "unknown_level", "withdrawn", "conflicted"])
def test_bids_are_refused_with_the_reason(manager: User, case: str) -> None:
    call = bidding_call(bidding_closes=NOW - dt.timedelta(hours=1)) if case == "window_closed" else bidding_call()
    application, reviewer = submitted(call, "Alpha"), make_reviewer()
    if case != "not_in_pool":
        pooled(manager, call, reviewer)
    if case == "withdrawn":
        application.state, application.withdrawn_at = "withdrawn", NOW
    if case == "conflicted":
        db.session.add(Conflict(reviewer_id=reviewer.id, application_id=application.id, reason="Co-founder",
                                source="manager"))
    db.session.commit()
    messages = {"not_in_pool": "not in this call's reviewer pool", "window_closed": "Bidding for this call is not open",
                "unknown_level": "Choose eager, willing", "withdrawn": "no longer awaits reviewers",
                "conflicted": "conflict of interest"}
    with pytest.raises(ServiceError, match=messages[case]):
        place_bid(reviewer, application, "maybe" if case == "unknown_level" else "eager", NOW)
    assert db.session.scalar(select(func.count()).select_from(Bid)) == 0


def test_a_conflict_bid_records_a_declared_conflict_and_is_never_assigned(manager: User) -> None:
    call = bidding_call()
    application, reviewer = submitted(call, "Alpha"), make_reviewer(**IMMUNO_EXPERT)
    pooled(manager, call, reviewer)
    place_bid(reviewer, application, "conflict", NOW, reason="I advise them")
    db.session.commit()
    conflict = db.session.scalar(select(Conflict))
    assert (conflict.reviewer_id, conflict.application_id, conflict.source, conflict.reason) == (
        reviewer.id, application.id, "declared", "I advise them")
    report = auto_assign(manager, call, now=NOW)
    assert assigned_pairs(call) == set() and [s.id for s in report.unfilled] == [application.id]


def test_eager_bid_outweighs_a_focus_match(manager: User) -> None:
    call = bidding_call()
    application = submitted(call, "Alpha")
    expert = make_reviewer(focus_areas=["immuno_oncology"])
    keen = make_reviewer(**OUTSIDER)
    for reviewer in (expert, keen):
        pooled(manager, call, reviewer)
    place_bid(keen, application, "eager", NOW)
    db.session.commit()
    auto_assign(manager, call, now=NOW)
    assert assigned_pairs(call) == {(keen.id, application.id)}


def test_not_willing_is_respected_whenever_a_feasible_assignment_allows_it(manager: User) -> None:
    call = bidding_call()
    first, second = submitted(call, "Alpha"), submitted(call, "Beta")
    expert, outsider = make_reviewer(**IMMUNO_EXPERT), make_reviewer(**OUTSIDER)
    pooled(manager, call, expert, min_load=1)  # even a minimum load does not override "not willing"
    pooled(manager, call, outsider)
    place_bid(expert, first, "not_willing", NOW)
    place_bid(expert, second, "not_willing", NOW)
    db.session.commit()
    report = auto_assign(manager, call, now=NOW)
    assert assigned_pairs(call) == {(outsider.id, first.id), (outsider.id, second.id)}
    assert report.not_willing_used == 0 and report.unfilled == []


def test_when_infeasible_not_willing_pairs_still_fill_demand_with_a_warning(manager: User) -> None:
    call = bidding_call(reviewers_per_application=2)
    application = submitted(call, "Alpha")
    expert, outsider = make_reviewer(**IMMUNO_EXPERT), make_reviewer(**OUTSIDER)
    for reviewer in (expert, outsider):
        pooled(manager, call, reviewer)
    place_bid(expert, application, "not_willing", NOW)
    db.session.commit()
    report = auto_assign(manager, call, now=NOW)
    assert assigned_pairs(call) == {(expert.id, application.id), (outsider.id, application.id)}
    assert report.not_willing_used == 1 and report.unfilled == []
