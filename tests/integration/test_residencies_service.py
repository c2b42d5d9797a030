"""Slots, the match preview, offers (confirm, accept, decline, expire, refill), residencies and
occupancy, against the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from incubator.domain import residency_matching as rm
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call, OutboundEmail, Programme, Residency, Review, Slot, User
from incubator.models.residencies import Offer
from incubator.services import ServiceError, match_runs, occupancy, residencies, slots
from incubator.services import offers as offer_service
from tests.factories import make_application, make_call

NOW = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
START = dt.date(2027, 1, 1)


def make_slot(call: Call, *, programme: int = 0, capacity: int = 1, space_type: str = "office_lab",
              starts_on: dt.date = START, ends_on: dt.date = dt.date(2029, 1, 1), label: str | None = None) -> Slot:
    chosen: Programme = call.programmes[programme].programme
    slot = Slot(programme=chosen, site=chosen.host_site, label=label or f"{chosen.name} {space_type} {capacity}",
                space_type=space_type, capacity=capacity, starts_on=starts_on, ends_on=ends_on)
    db.session.add(slot)
    db.session.commit()
    return slot


def decided(make_user: Callable[..., User], call: Call, state: str = "accepted", released: bool = True,
            **fields: Any) -> Application:
    """A complete application with a (released) decision; wants office + lab for 12 months from START."""
    values: dict[str, Any] = {"desired_start": START, "desired_length_months": 12}
    if released:
        values["decision_released_at"] = NOW - dt.timedelta(days=1)
    values.update(fields)
    application = make_application(make_user(Role.APPLICANT), call, state=state, complete=True, **values)
    application.company_name = f"Company {application.id}"
    db.session.commit()
    return application


def score(make_user: Callable[..., User], application: Application, value: str) -> None:
    reviewer = make_user(Role.REVIEWER)
    db.session.add(Review(application_id=application.id, reviewer_id=reviewer.id, state="submitted",
                          weighted_score=Decimal(value), submitted_at=NOW))
    db.session.commit()


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(Role.MANAGER)


def offer_all(manager: User, call: Call, days: int = 14, now: dt.datetime = NOW) -> list[Offer]:
    preview = match_runs.match_preview(call)
    offers = offer_service.confirm_offers(manager, call, preview.placements, days, now)
    db.session.commit()
    return offers


# --------------------------------------------------------------------------- preview


def test_preview_places_by_ranking_and_explains_the_rest(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call)
    first, second = decided(make_user, call), decided(make_user, call)
    score(make_user, second, "4.5")
    score(make_user, first, "3.0")
    decided(make_user, call, released=False)
    waiting = decided(make_user, call, state="waitlisted")
    too_late = decided(make_user, call, desired_start=dt.date(2030, 1, 1))

    preview = match_runs.match_preview(call)
    assert preview.placements == {second.id: slot.id}
    assert preview.unmatched == {first.id: rm.OUTRANKED, too_late.id: rm.NO_WINDOW}
    assert preview.unreleased == 1
    assert waiting.id not in preview.applications
    assert waiting.id in match_runs.match_preview(call, include_waitlisted=True).applications


def test_without_scores_earlier_submission_wins(make_user) -> None:
    call = make_call()
    slot = make_slot(call)
    first, second = decided(make_user, call), decided(make_user, call)
    second.submitted_at, first.submitted_at = NOW - dt.timedelta(days=3), NOW - dt.timedelta(days=2)
    db.session.commit()
    assert match_runs.match_preview(call).placements == {second.id: slot.id}


def test_adjusted_preview_names_the_blocking_pair(make_user) -> None:
    call = make_call()
    slot = make_slot(call)
    better, worse = decided(make_user, call), decided(make_user, call)
    preview = match_runs.adjusted_preview(call, {worse.id: slot.id})
    assert preview.check is not None and preview.check.blocking == [(str(better.id), str(slot.id))]
    with pytest.raises(ServiceError, match="not .*waiting for an offer"):
        match_runs.adjusted_preview(call, {999_999: slot.id})


# --------------------------------------------------------------------------- offers


def test_confirm_makes_offers_with_a_deadline_and_emails(make_user, manager) -> None:
    call = make_call()
    make_slot(call, capacity=2)
    one, two = decided(make_user, call), decided(make_user, call)
    offers = offer_all(manager, call, days=10)
    assert {o.application_id for o in offers} == {one.id, two.id}
    assert all(o.state == "offered" and o.response_deadline == NOW + dt.timedelta(days=10) for o in offers)
    assert (offers[0].starts_on, offers[0].ends_on) == (START, dt.date(2028, 1, 1))
    emails = list(db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "offer")))
    assert len(emails) == 2 and "Please accept or decline by" in emails[0].body_text
    assert f"/offers/{offers[0].id}" in emails[0].body_text
    # They are no longer waiting, so a second confirm cannot offer them again.
    assert match_runs.match_preview(call).applications == {}
    with pytest.raises(ServiceError, match="not .*waiting"):
        offer_service.confirm_offers(manager, call, {one.id: offers[0].slot_id}, 10, NOW)


def test_confirm_refuses_more_than_capacity_and_bad_days(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call)
    one, two = decided(make_user, call), decided(make_user, call)
    with pytest.raises(ServiceError, match="would hold 2 startups"):
        offer_service.confirm_offers(manager, call, {one.id: slot.id, two.id: slot.id}, 10, NOW)
    db.session.rollback()
    with pytest.raises(ServiceError, match="days to answer"):
        offer_service.confirm_offers(manager, call, {one.id: slot.id}, 0, NOW)


def test_accept_creates_residency_and_refuses_others_and_late_answers(make_user, manager) -> None:
    call = make_call()
    make_slot(call, capacity=2)
    one, two = decided(make_user, call), decided(make_user, call)
    first, second = offer_all(manager, call)
    with pytest.raises(offer_service.OfferNotFound):
        offer_service.accept_offer(two.applicant, first, NOW)
    residency = offer_service.accept_offer(one.applicant, first, NOW + dt.timedelta(days=1))
    db.session.commit()
    assert (residency.state, residency.starts_on, residency.ends_on) == ("active", START, dt.date(2028, 1, 1))
    assert first.state == "accepted"
    with pytest.raises(ServiceError, match="already accepted"):
        offer_service.accept_offer(one.applicant, first, NOW + dt.timedelta(days=2))
    db.session.rollback()
    with pytest.raises(ServiceError, match="deadline .* has passed"):
        offer_service.accept_offer(two.applicant, second, NOW + dt.timedelta(days=15))
    db.session.rollback()
    with pytest.raises(ServiceError, match="deadline .* has passed"):
        offer_service.decline_offer(two.applicant, second, NOW + dt.timedelta(days=15))


def test_accept_never_exceeds_capacity(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call)
    one, two = decided(make_user, call), decided(make_user, call)
    # Two offers for one place (as if raced or hand-made): the first to accept gets it.
    for application in (one, two):
        db.session.add(Offer(application=application, slot=slot, state="offered", starts_on=START,
                             ends_on=dt.date(2028, 1, 1), response_deadline=NOW + dt.timedelta(days=5), offered_at=NOW))
    db.session.commit()
    offer_one, offer_two = db.session.scalars(select(Offer).order_by(Offer.id)).all()
    offer_service.accept_offer(one.applicant, offer_one, NOW)
    db.session.commit()
    with pytest.raises(ServiceError, match="last place .* just been taken"):
        offer_service.accept_offer(two.applicant, offer_two, NOW)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Residency)) == 1


def test_decline_offers_the_place_to_the_next_waitlisted_startup(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call)
    one = decided(make_user, call)
    (offer,) = offer_all(manager, call)
    later = decided(make_user, call, state="waitlisted")
    better = decided(make_user, call, state="waitlisted")
    score(make_user, better, "4.0")
    refill = offer_service.decline_offer(one.applicant, offer, NOW + dt.timedelta(days=1))
    db.session.commit()
    assert offer.state == "declined"
    assert refill is not None and refill.application_id == better.id and refill.slot_id == slot.id
    assert refill.refill_of_id == offer.id and refill.response_deadline == NOW + dt.timedelta(days=15)
    assert later.id not in {o.application_id for o in db.session.scalars(select(Offer))}
    # The decliner is not offered a place again.
    assert one.id not in match_runs.match_preview(call, include_waitlisted=True).applications


def test_expire_offers_is_idempotent_and_refills(make_user, manager) -> None:
    call = make_call()
    make_slot(call)
    decided(make_user, call)
    (offer,) = offer_all(manager, call, days=3)
    waiting = decided(make_user, call, state="waitlisted")
    assert offer_service.expire_offers(NOW + dt.timedelta(days=2)) == 0
    assert offer_service.expire_offers(NOW + dt.timedelta(days=3)) == 1
    db.session.commit()
    assert offer_service.expire_offers(NOW + dt.timedelta(days=3)) == 0
    db.session.commit()
    db.session.refresh(offer)
    assert offer.state == "expired"
    refill = offer_service.open_offer_for(waiting.id)
    assert refill is not None and refill.state == "offered"
    kinds = sorted(db.session.scalars(select(OutboundEmail.kind)))
    assert kinds == ["offer", "offer", "offer_expired"]


def test_offer_reminder_goes_once_two_days_before_expiry_and_not_after_an_answer(make_user, manager) -> None:
    call = make_call()
    make_slot(call, capacity=2)
    first, second = decided(make_user, call), decided(make_user, call)
    offers = {offer.application_id: offer for offer in offer_all(manager, call, days=5)}
    offer_service.accept_offer(second.applicant, offers[second.id], NOW + dt.timedelta(days=1))
    db.session.commit()
    assert offer_service.remind_expiring_offers(NOW + dt.timedelta(days=2, hours=23)) == 0  # not yet
    assert offer_service.remind_expiring_offers(NOW + dt.timedelta(days=3, hours=1)) == 1
    db.session.commit()
    assert offer_service.remind_expiring_offers(NOW + dt.timedelta(days=4)) == 0  # once, ever
    db.session.commit()
    reminders = db.session.scalars(select(OutboundEmail).where(OutboundEmail.kind == "offer_reminder")).all()
    assert [email.to_address for email in reminders] == [first.applicant.email]
    assert "waiting for your answer" in reminders[0].body_text


# --------------------------------------------------------------------------- slots


def test_slot_update_cannot_strand_residents(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call, capacity=2)
    one = decided(make_user, call)
    (offer,) = offer_all(manager, call)
    offer_service.accept_offer(one.applicant, offer, NOW)
    db.session.commit()
    data = slots.SlotData(programme_id=slot.programme_id, site_id=slot.site_id, label="Renamed",
                            space_type=slot.space_type, capacity=0, starts_on=slot.starts_on, ends_on=slot.ends_on)
    with pytest.raises(ServiceError, match="capacity cannot be lower"):
        slots.update_slot(manager, slot, data)
    db.session.rollback()
    short = slots.SlotData(**{**data.__dict__, "capacity": 1, "ends_on": dt.date(2027, 6, 1)})
    with pytest.raises(ServiceError, match="outside the new period"):
        slots.update_slot(manager, slot, short)
    db.session.rollback()
    slots.update_slot(manager, slot, slots.SlotData(**{**data.__dict__, "capacity": 1}))
    assert slot.label == "Renamed"
    with pytest.raises(ServiceError, match="has offers or residencies"):
        slots.delete_slot(manager, slot)


# --------------------------------------------------------------------------- residencies


def test_residency_end_early_extend_and_complete(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call, capacity=1, ends_on=dt.date(2028, 7, 1))
    one = decided(make_user, call, desired_length_months=6)
    (offer,) = offer_all(manager, call)
    residency = offer_service.accept_offer(one.applicant, offer, NOW)
    db.session.commit()
    residencies.extend_residency(manager, residency, 6, NOW)
    assert residency.ends_on == dt.date(2028, 1, 1) and residency.original_ends_on == dt.date(2027, 7, 1)
    with pytest.raises(ServiceError, match="ends before that"):
        residencies.extend_residency(manager, residency, 7, NOW)
    # Another startup books the next months: no more room to extend into them.
    db.session.add(Residency(application=decided(make_user, call), slot=slot, starts_on=dt.date(2028, 1, 1),
                             ends_on=dt.date(2028, 4, 1)))
    db.session.commit()
    with pytest.raises(ServiceError, match="no free place in January 2028"):
        residencies.extend_residency(manager, residency, 1, NOW)
    db.session.rollback()
    with pytest.raises(ServiceError, match="not reached its end"):
        residencies.complete_residency(manager, residency, NOW)
    with pytest.raises(ServiceError, match="end date after"):
        residencies.end_residency_early(manager, residency, dt.date(2028, 2, 1), NOW)
    residencies.end_residency_early(manager, residency, dt.date(2027, 3, 15), NOW)
    assert (residency.state, residency.ends_on) == ("ended_early", dt.date(2027, 3, 15))
    with pytest.raises(ServiceError, match="not active"):
        residencies.complete_residency(manager, residency, NOW)


# --------------------------------------------------------------------------- occupancy


def test_occupancy_timeline_utilisation_vacancies_and_csv(make_user, manager) -> None:
    call = make_call()
    slot = make_slot(call, capacity=2, ends_on=dt.date(2027, 7, 1), label="=Lab A")
    one = decided(make_user, call, desired_length_months=3)
    two = decided(make_user, call, desired_length_months=6)
    first, second = offer_all(manager, call)
    offer_service.accept_offer(one.applicant, first, NOW)
    db.session.commit()

    data = occupancy.occupancy(start_month=dt.date(2026, 12, 1), months=8)
    (timeline,) = data.slots
    assert timeline.slot.id == slot.id
    assert timeline.open == [False, True, True, True, True, True, True, False]
    assert timeline.occupied == [0, 1, 1, 1, 0, 0, 0, 0]
    assert timeline.offered == [0, 1, 1, 1, 1, 1, 1, 0]
    assert timeline.free == [0, 0, 0, 0, 1, 1, 1, 0]
    assert [[(c.kind, c.span) for c in lane] for lane in timeline.lanes] == [
        [("closed", 1), ("resident", 3), ("free", 1), ("free", 1), ("free", 1), ("closed", 1)],
        [("closed", 1), ("offered", 6), ("closed", 1)],
    ]
    assert data.utilisation[1] == 0.5 and data.utilisation[0] is None
    assert [(v.month, v.places) for v in data.vacancies] == [(dt.date(2027, 4, 1), 1)]
    csv_text = "".join(occupancy.occupancy_csv(occupancy.occupancy_pages(start_month=dt.date(2026, 12, 1),
                                                                         months=8)))
    assert csv_text.splitlines()[0].startswith("programme,site,slot")
    assert "'=Lab A" in csv_text and ",2027-01,2,1,1,0,0.50" in csv_text
    assert two.id == second.application_id


def _residents(slot: Slot, count: int, make_user: Callable[..., User], call: Call) -> None:
    """``count`` residencies over the same year in ``slot``, inserted directly (no offers needed)."""
    for _ in range(count):
        application = decided(make_user, call)
        db.session.add(Residency(application_id=application.id, slot_id=slot.id, state="active", starts_on=START,
                                 ends_on=dt.date(2028, 1, 1), created_at=NOW, updated_at=NOW))
    db.session.commit()


def test_occupancy_draws_one_row_per_resident_lane_never_one_per_place(make_user) -> None:
    call = make_call()
    shared = make_slot(call, capacity=10_000, label="Shared desks")
    _residents(shared, occupancy.MAX_LANES_SHOWN + 3, make_user, call)

    (timeline,) = occupancy.occupancy(start_month=START, months=12).slots
    assert len(timeline.lanes) == occupancy.MAX_LANES_SHOWN
    assert timeline.hidden_lanes == 3
    assert timeline.occupied == [occupancy.MAX_LANES_SHOWN + 3] * 12  # hidden lanes still counted
    assert timeline.free == [10_000 - occupancy.MAX_LANES_SHOWN - 3] * 12


def test_occupancy_pages_slots_and_the_csv_covers_every_page(make_user) -> None:
    call = make_call()
    for number in range(5):
        make_slot(call, capacity=1, label=f"Slot {number}")

    first = occupancy.occupancy(start_month=START, months=2, per_page=2)
    last = occupancy.occupancy(start_month=START, months=2, per_page=2, page=3)
    beyond = occupancy.occupancy(start_month=START, months=2, per_page=2, page=99)
    assert (first.total_slots, first.pages, first.has_prev, first.has_next) == (5, 3, False, True)
    assert [t.slot.label for t in first.slots] == ["Slot 0", "Slot 1"]
    assert [t.slot.label for t in last.slots] == ["Slot 4"] and not last.has_next
    assert beyond.page == 3  # past the end shows the last page, not an empty one
    pages = list(occupancy.occupancy_pages(start_month=START, months=2, per_page=2))
    assert [len(page.slots) for page in pages] == [2, 2, 1]
    rows = "".join(occupancy.occupancy_csv(pages)).splitlines()
    assert len(rows) == 1 + 5 * 2
