"""Stored match runs against the database: stored result, pages, adjustments, and staleness
whenever an input changes (decisions, ranking, slots, offers, residencies)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, update

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, MatchPlacement, MatchRun, Offer, Residency, Review, User
from incubator.services import ServiceError, match_runs
from incubator.services import offers as offer_service
from tests.factories import make_call
from tests.integration.test_residencies_service import NOW, START, decided, make_slot, score


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(Role.MANAGER)


def test_a_run_stores_every_participant_with_its_slot_or_reason(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call, capacity=2)
    placed = [decided(make_user, call) for _ in range(2)]
    left_out = decided(make_user, call)
    decided(make_user, call, state="rejected")  # not a participant

    run = match_runs.compute_run(manager, call, NOW)
    db.session.commit()
    assert (run.participants, run.placed, run.unmatched, run.state) == (3, 2, 1, "current")
    rows = {p.application_id: (p.slot_id, p.reason) for p in db.session.scalars(
        select(MatchPlacement).where(MatchPlacement.run_id == run.id))}
    assert rows == {placed[0].id: (slot.id, None), placed[1].id: (slot.id, None),
                    left_out.id: (None, "outranked")}
    assert not match_runs.is_stale(run)
    assert match_runs.latest_run(call) == run and match_runs.latest_run(call, include_waitlisted=True) is None

    newer = match_runs.compute_run(manager, call, NOW + dt.timedelta(minutes=1))
    db.session.commit()
    assert run.state == "stale" and match_runs.is_stale(run) and match_runs.latest_run(call) == newer


def test_run_pages_by_keyset_never_list_more_than_a_page_and_search_by_company(make_user, manager) -> None:
    call = make_call()
    make_slot(call, capacity=3)
    applications = [decided(make_user, call) for _ in range(5)]
    run = match_runs.compute_run(manager, call, NOW)
    db.session.commit()
    ids = [a.id for a in applications]

    first = match_runs.run_page(run, per_page=2)
    second = match_runs.run_page(run, after=first.next_after, per_page=2)
    last = match_runs.run_page(run, after=second.next_after, per_page=2)
    assert [r.application_id for r in first.rows] == ids[:2] and first.next_after == ids[1]
    assert [r.application_id for r in second.rows] == ids[2:4]
    assert [r.application_id for r in last.rows] == ids[4:] and last.next_after is None
    exactly = match_runs.run_page(run, per_page=5)
    assert len(exactly.rows) == 5 and exactly.next_after is None  # a full last page has no "next"
    found = match_runs.run_page(run, search=applications[3].company_name.upper())
    assert [r.application_id for r in found.rows] == [ids[3]]
    assert len(match_runs.run_page(run, only="placed").rows) == 3
    assert len(match_runs.run_page(run, only="unplaced").rows) == 2
    assert match_runs.run_page(run, search="100%_").rows == []  # wildcards are literal


def _change_decision(call, make_user) -> None:
    application = db.session.scalar(select(Application).where(Application.call_id == call.id).limit(1))
    application.state, application.updated_at = "rejected", NOW + dt.timedelta(hours=1)


def _new_accepted(call, make_user) -> None:
    decided(make_user, call)


def _slot_capacity(call, make_user) -> None:
    slot = call_slot(call)
    slot.capacity += 1


def _review_submitted(call, make_user) -> None:
    application = db.session.scalar(select(Application).where(Application.call_id == call.id).limit(1))
    score(make_user, application, "4.5")


def _offer_made(call, make_user) -> None:
    application = db.session.scalar(select(Application).where(Application.call_id == call.id).limit(1))
    manager = make_user(Role.MANAGER)
    offer_service.confirm_offers(manager, call, {application.id: call_slot(call).id}, 14, NOW)


def _residency_extended(call, make_user) -> None:
    db.session.execute(update(Residency).values(ends_on=dt.date(2029, 1, 1), updated_at=NOW + dt.timedelta(days=1)))


def _decision_released(call, make_user) -> None:
    decided(make_user, call, released=False).decision_released_at = NOW


def _preference_dropped(call, make_user) -> None:
    application = db.session.scalar(select(Application).where(Application.call_id == call.id,
                                                              Application.state == "accepted").limit(1))
    db.session.delete(application.preferences[-1])


def _slot_added(call, make_user) -> None:
    make_slot(call, programme=1, capacity=2)


def _programme_withdrawn(call, make_user) -> None:
    call.programmes.pop()


def _review_deleted(call, make_user) -> None:
    db.session.delete(db.session.scalar(select(Review).where(Review.state == "submitted").limit(1)))


def _offers_expired_in_bulk(call, make_user) -> None:
    db.session.execute(update(Offer).values(state="expired", responded_at=NOW))


def call_slot(call):
    from incubator.models import Slot

    return db.session.scalar(select(Slot).where(Slot.programme_id == call.programmes[0].programme_id).limit(1))


def _stored_run(make_user, manager):
    """A call with two waiting startups (one reviewed, one with an offer out) and a resident."""
    call = make_call()
    slot = make_slot(call, capacity=3)
    waiting = [decided(make_user, call) for _ in range(2)]
    score(make_user, waiting[0], "4.0")
    resident = decided(make_user, call, state="accepted")
    db.session.add(Residency(application_id=resident.id, slot_id=slot.id, state="active", starts_on=START,
                             ends_on=dt.date(2028, 1, 1), created_at=NOW, updated_at=NOW))
    held = decided(make_user, call)
    db.session.add(Offer(application_id=held.id, slot_id=slot.id, state="offered", starts_on=START,
                         ends_on=dt.date(2028, 1, 1), response_deadline=NOW + dt.timedelta(days=14),
                         created_at=NOW, offered_at=NOW))
    db.session.commit()
    run = match_runs.compute_run(manager, call, NOW)
    db.session.commit()
    assert not match_runs.is_stale(run)
    return call, run


@pytest.mark.parametrize("change", [_change_decision, _new_accepted, _decision_released, _preference_dropped,
                                    _slot_capacity, _slot_added, _programme_withdrawn, _review_submitted,
                                    _review_deleted, _offer_made, _offers_expired_in_bulk, _residency_extended])
def test_a_run_goes_stale_when_any_input_changes(make_user, manager, change) -> None:
    call, run = _stored_run(make_user, manager)

    change(call, make_user)
    db.session.commit()
    assert match_runs.is_stale(run)
    with pytest.raises(ServiceError, match="compute it again"):
        offer_service.confirm_run(manager, run, 14, NOW)


def test_adjusting_rechecks_the_changed_slot_and_keeps_counts(make_user, manager) -> None:
    call = make_call()
    small = make_slot(call, capacity=1, label="Small")
    late = make_slot(call, capacity=5, label="Late", starts_on=dt.date(2028, 6, 1))
    first, second = decided(make_user, call), decided(make_user, call)
    run = match_runs.compute_run(manager, call, NOW)
    db.session.commit()
    assert run.placed == 1

    with pytest.raises(ServiceError, match="would hold 2 startups"):
        match_runs.adjust_placement(manager, run, second.id, small)
    with pytest.raises(ServiceError, match="does not fit in the period of Late"):
        match_runs.adjust_placement(manager, run, second.id, late)
    match_runs.adjust_placement(manager, run, first.id, None)
    match_runs.adjust_placement(manager, run, second.id, small)
    db.session.commit()
    assert (run.placed, run.unmatched, run.adjusted) == (1, 1, 2)
    assert match_runs.run_placements(run) == {second.id: small.id}
    assert not match_runs.is_stale(run)  # adjusting changes the result, not the inputs

    offers = offer_service.confirm_run(manager, run, 10, NOW)
    db.session.commit()
    assert [o.application_id for o in offers] == [second.id] and run.state == "confirmed"
    assert db.session.scalar(select(func.count()).select_from(MatchRun)) == 1


def test_the_match_uses_the_boards_ranking_positions(make_user) -> None:
    from incubator.services.ranking import ranking_for_call, ranking_positions

    call = make_call()
    applications = [decided(make_user, call) for _ in range(4)]
    for application, value in zip(applications, ["2.0", "4.5", "3.0", "4.5"], strict=True):
        score(make_user, application, value)
    board = {row.application_id: row.rank for row in ranking_for_call(call) if row.rank is not None}
    assert ranking_positions(call) == board
    assert board[applications[1].id] < board[applications[2].id] < board[applications[0].id]


@pytest.mark.parametrize("reviews_each", [3, 4])  # 4: medians need every score, the board's own way
def test_ranking_positions_equal_the_boards_with_ties_states_and_unscored(make_user, reviews_each) -> None:
    from incubator.services.ranking import ranking_for_call, ranking_positions

    call = make_call()
    # Equal means reached by different sums (float rounding), equal scores split by submission
    # time, an unscored application, a withdrawn one (never ranked) and a rejected one (ranked).
    scores = [["0.1", "0.2", "0.3", "0.2"], ["0.2", "0.2", "0.2", "0.2"], ["0.3", "0.1", "0.2", "0.2"],
              ["4.5", "4.5", "4.5", "4.5"], ["4.5", "4.5", "4.5", "4.5"], [], ["5.0"], ["1.0", "3.0"]]
    states = ["accepted", "accepted", "waitlisted", "accepted", "accepted", "accepted", "withdrawn", "rejected"]
    for number, (values, state) in enumerate(zip(scores, states, strict=True)):
        application = decided(make_user, call, state=state,
                              submitted_at=NOW - dt.timedelta(days=10, minutes=number % 3))
        for value in values[:reviews_each]:
            score(make_user, application, value)
    board = {row.application_id: row.rank for row in ranking_for_call(call) if row.rank is not None}
    assert len(board) == 6
    assert ranking_positions(call) == board


def _draft_review(call, make_user) -> None:
    application = db.session.scalar(select(Application).where(Application.call_id == call.id).limit(1))
    db.session.add(Review(application_id=application.id, reviewer_id=make_user(Role.REVIEWER).id, state="draft"))


def _rejected_edited(call, make_user) -> None:
    decided(make_user, call, state="rejected").company_name = "Renamed"


def _other_call_decided(call, make_user) -> None:
    decided(make_user, make_call())


def _participant_renamed(call, make_user) -> None:
    db.session.scalar(select(Application).where(Application.call_id == call.id).limit(1)).company_name = "New name"


@pytest.mark.parametrize("change", [_draft_review, _rejected_edited, _other_call_decided, _participant_renamed])
def test_a_run_stays_current_when_nothing_it_depends_on_changes(make_user, manager, change) -> None:
    call, run = _stored_run(make_user, manager)
    change(call, make_user)
    db.session.commit()
    assert not match_runs.is_stale(run)


def test_deleting_a_reviewed_application_in_any_state_makes_the_run_stale(make_user, manager) -> None:
    """Its reviews go with it (ON DELETE CASCADE, unseen by the session): the ranking changes."""
    call, _ = _stored_run(make_user, manager)
    rejected = decided(make_user, call, state="rejected")
    score(make_user, rejected, "5.0")
    run = match_runs.compute_run(manager, call, NOW)
    db.session.commit()
    assert not match_runs.is_stale(run)
    db.session.delete(rejected)
    db.session.commit()
    assert match_runs.is_stale(run)


def test_a_change_rolled_back_leaves_the_run_current(make_user, manager) -> None:
    call, run = _stored_run(make_user, manager)
    _change_decision(call, make_user)
    db.session.flush()
    assert match_runs.is_stale(run)  # the counter moves with the change, in its transaction
    db.session.rollback()
    assert not match_runs.is_stale(run)


def test_a_stored_run_equals_the_preview_it_was_computed_from(make_user, manager) -> None:
    """The one-pass match that computing uses places exactly as solving the built instance."""
    call = make_call()
    for number, space in enumerate(["office_lab", "office_desk", "lab_bench", "office_lab"]):
        make_slot(call, programme=number % 2, capacity=1 + number % 2, space_type=space,
                  starts_on=dt.date(2027, 1 + number, 1))
    applications = [decided(make_user, call, space_type=["office_desk", "lab_bench", "office_lab"][i % 3],
                            desired_start=dt.date(2027, 1 + i % 6, 1), desired_length_months=6 + 6 * (i % 3))
                    for i in range(14)]
    for number, application in enumerate(applications[::2]):
        score(make_user, application, f"{1 + number % 4}.5")
    expected = match_runs.match_preview(call)
    run = match_runs.compute_run(manager, call, NOW)
    db.session.commit()
    stored = {p.application_id: (p.slot_id, p.reason, p.rank) for p in db.session.scalars(
        select(MatchPlacement).where(MatchPlacement.run_id == run.id))}
    assert stored == {a: (expected.placements.get(a), expected.unmatched.get(a), expected.ranks.get(a))
                      for a in expected.applications}
    assert 0 < run.placed < run.participants == 14
