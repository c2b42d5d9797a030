"""Residency slots, the match of accepted startups to them, offers, residencies and occupancy.

Capacity is never exceeded, even when offers are accepted at the same moment: every change that
takes a place (confirming offers, accepting one, refilling a freed place, extending a stay)
first locks the slot (``lock_slots``) and only then counts who occupies it. On PostgreSQL that
is ``SELECT … FOR UPDATE`` on the slot rows; SQLite has no row locks, so a no-op ``UPDATE`` of
the slot takes the database's write lock, which serialises writers until commit. Either way a
second transaction waits, then counts the first one's committed residency.

Who occupies a place: every residency over ``[starts_on, ends_on)`` (ending early moves
``ends_on``), and, when planning new offers, every outstanding offer too, so a place is never
offered twice. Accepting counts residencies only: the offer being accepted already holds its
place in the plan, and an over-offered slot (hand-edited, or raced) is settled first come,
first served.

Like every service these functions flush and never commit. ``expire_offers`` is meant for the
scheduler process: it flushes too, and the caller commits (all expired offers and their
refills in one transaction; it is idempotent by offer state, so a crash before the commit only
means the next run does the same work again).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Float, and_, cast, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.domain.applications import ApplicationState
from incubator.domain.residency_matching import Candidate, Period, SlotSpec
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import (
    Application,
    Call,
    Offer,
    OutboundEmail,
    Programme,
    Residency,
    Review,
    Site,
    Slot,
    User,
)
from incubator.models.programmes import SPACE_TYPES
from incubator.models.residencies import LIVE_OFFER_STATES, OPEN_OFFER_STATES
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.notifications import queue_email

DEFAULT_RESPONSE_DAYS = 14
MAX_RESPONSE_DAYS = 90
# Applications that declined or let an offer lapse are not offered another place automatically.
FINISHED_OFFER_STATES = ("declined", "expired")


class OfferNotFound(ServiceError):
    """The offer is not this person's; the web layer answers 404 so ids reveal nothing."""


# ---------------------------------------------------------------------------- locking


def lock_slots(slot_ids: Iterable[int]) -> None:
    """Hold the slots until the transaction ends (ids in order, so two lockers never deadlock)."""
    ids = sorted(set(slot_ids))
    if not ids:
        return
    if db.session.get_bind().dialect.name == "sqlite":
        # No row locks in SQLite: writing takes the database write lock (RESERVED), which other
        # writers wait for (busy timeout) until this transaction commits or rolls back.
        db.session.execute(update(Slot).where(Slot.id.in_(ids)).values(capacity=Slot.capacity)
                           .execution_options(synchronize_session=False))
    else:
        db.session.execute(select(Slot.id).where(Slot.id.in_(ids)).order_by(Slot.id).with_for_update()).all()


# ---------------------------------------------------------------------------- slots


def _ensure_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError("Only programme managers manage residency slots and offers.")


@dataclass(frozen=True)
class SlotData:
    programme_id: int
    site_id: int
    label: str
    space_type: str
    capacity: int
    starts_on: dt.date  # first day
    ends_on: dt.date  # first day after the period


def _check_slot_data(data: SlotData) -> None:
    if db.session.get(Programme, data.programme_id) is None:
        raise ServiceError("Choose a programme.", field="programme_id")
    if db.session.get(Site, data.site_id) is None:
        raise ServiceError("Choose a site.", field="site_id")
    if not data.label.strip():
        raise ServiceError("Give the slot a name.", field="label")
    if data.space_type not in SPACE_TYPES:
        raise ServiceError("Choose office desk, lab bench or office + lab.", field="space_type")
    if data.capacity < 0:
        raise ServiceError("Capacity cannot be negative.", field="capacity")
    if data.ends_on <= data.starts_on:
        raise ServiceError("The last month must not be before the first month.", field="ends_on")


def create_slot(manager: User, data: SlotData) -> Slot:
    _ensure_manager(manager)
    _check_slot_data(data)
    slot = Slot(**data.__dict__)
    slot.label = data.label.strip()
    db.session.add(slot)
    db.session.flush()
    record_event(manager, "slot.created", "slot", slot.id, label=slot.label, capacity=slot.capacity)
    return slot


def update_slot(manager: User, slot: Slot, data: SlotData) -> Slot:
    """Change a slot, unless that would strand a resident or an offer outside it or over it."""
    _ensure_manager(manager)
    _check_slot_data(data)
    lock_slots([slot.id])
    periods = _taken_periods([slot.id], include_offers=True)[slot.id]
    first, end = rm.slot_months(data.starts_on, data.ends_on)
    if any(start < first or stop > end for start, stop in periods):
        raise ServiceError("Residents or offers in this slot fall outside the new period; "
                           "end or move them first.", field="ends_on")
    busiest = _busiest(periods)
    if data.capacity < busiest:
        raise ServiceError(f"{busiest} places are taken or offered in the busiest month; "
                           "capacity cannot be lower.", field="capacity")
    if data.programme_id != slot.programme_id and periods:
        raise ServiceError("A slot with residents or offers cannot move to another programme.", field="programme_id")
    for name, value in data.__dict__.items():
        setattr(slot, name, value)
    slot.label = data.label.strip()
    db.session.flush()
    record_event(manager, "slot.updated", "slot", slot.id, label=slot.label, capacity=slot.capacity)
    return slot


def delete_slot(manager: User, slot: Slot) -> None:
    _ensure_manager(manager)
    used = db.session.scalar(select(func.count()).select_from(Offer).where(Offer.slot_id == slot.id))
    used = used or db.session.scalar(select(func.count()).select_from(Residency).where(Residency.slot_id == slot.id))
    if used:
        raise ServiceError("This slot has offers or residencies; set its capacity to 0 instead of deleting it.")
    record_event(manager, "slot.deleted", "slot", slot.id, label=slot.label)
    db.session.delete(slot)
    db.session.flush()


def _busiest(periods: Sequence[Period]) -> int:
    """The most places the periods take in any one month."""
    if not periods:
        return 0
    months = rm.months_in(min(p[0] for p in periods), max(p[1] for p in periods))
    return max(rm.monthly_occupancy(periods, months).values())


def _taken_periods(slot_ids: Sequence[int], *, include_offers: bool,
                   exclude_residency: int | None = None) -> dict[int, list[Period]]:
    """Periods that take a place in each slot: residencies, and outstanding offers if asked."""
    taken: dict[int, list[Period]] = {slot_id: [] for slot_id in slot_ids}
    if not slot_ids:
        return taken
    residencies = select(Residency.slot_id, Residency.starts_on, Residency.ends_on).where(
        Residency.slot_id.in_(slot_ids))
    if exclude_residency is not None:
        residencies = residencies.where(Residency.id != exclude_residency)
    rows = list(db.session.execute(residencies))
    if include_offers:
        rows += list(db.session.execute(
            select(Offer.slot_id, Offer.starts_on, Offer.ends_on)
            .where(Offer.slot_id.in_(slot_ids), Offer.state.in_(OPEN_OFFER_STATES))))
    for slot_id, starts_on, ends_on in rows:
        taken[slot_id].append((starts_on, ends_on))
    return taken


def _slot_spec(slot: Slot, periods: Sequence[Period]) -> SlotSpec:
    first, end = rm.slot_months(slot.starts_on, slot.ends_on)
    occupied = rm.monthly_occupancy(periods, rm.months_in(first, end)) if end > first else {}
    return SlotSpec(id=str(slot.id), programme_id=slot.programme_id, space_type=slot.space_type,
                    capacity=slot.capacity, starts_on=slot.starts_on, ends_on=slot.ends_on, occupied=occupied)


# ---------------------------------------------------------------------------- the match


def _ranking_positions(call: Call) -> dict[int, int]:
    """Position of each ranked application in the call's ranking (1 = best).

    The ranking board's order (``services.ranking.ranking_for_call``: mean weighted score of
    submitted reviews, ties by earlier submission); applications without a score get none and
    are ranked after all others, by submission time, in ``domain.residency_matching``.
    """
    from incubator.services.ranking import ranking_for_call  # the board's module, kept out of import time

    return {row.application_id: row.rank for row in ranking_for_call(call) if row.rank is not None}


def mean_scores(application_ids: Sequence[int]) -> dict[int, float]:
    """Mean weighted score of submitted reviews per application (shown beside the match)."""
    if not application_ids:
        return {}
    rows = db.session.execute(
        select(Review.application_id, cast(func.avg(Review.weighted_score), Float))
        .where(Review.application_id.in_(application_ids), Review.state == "submitted",
               Review.weighted_score.is_not(None))
        .group_by(Review.application_id))
    return {application_id: mean for application_id, mean in rows if mean is not None}


def _participants(call: Call, include_waitlisted: bool) -> list[Application]:
    """Released accepted (and, if asked, waitlisted) applications with no live or refused offer
    and no residency yet."""
    states = [ApplicationState.ACCEPTED.value]
    if include_waitlisted:
        states.append(ApplicationState.WAITLISTED.value)
    has_offer = select(Offer.id).where(
        Offer.application_id == Application.id,
        Offer.state.in_((*LIVE_OFFER_STATES, *FINISHED_OFFER_STATES))).exists()
    has_residency = select(Residency.id).where(Residency.application_id == Application.id).exists()
    return list(db.session.scalars(
        select(Application)
        .where(Application.call_id == call.id, Application.state.in_(states),
               Application.decision_released_at.is_not(None), ~has_offer, ~has_residency)
        .options(selectinload(Application.preferences))
        .order_by(Application.id)))


def unreleased_count(call: Call) -> int:
    """Accepted or waitlisted applications whose decision the applicants have not been told."""
    return db.session.scalar(select(func.count()).select_from(Application).where(
        Application.call_id == call.id,
        Application.state.in_((ApplicationState.ACCEPTED.value, ApplicationState.WAITLISTED.value)),
        Application.decision_released_at.is_(None))) or 0


def _call_slots(call: Call, only: Sequence[int] | None = None) -> list[Slot]:
    programme_ids = [offered.programme_id for offered in call.programmes]
    query = select(Slot).where(Slot.programme_id.in_(programme_ids)).order_by(Slot.programme_id, Slot.label, Slot.id)
    if only is not None:
        query = query.where(Slot.id.in_(only))
    return list(db.session.scalars(query.options(selectinload(Slot.programme), selectinload(Slot.site))))


@dataclass
class MatchPreview:
    call: Call
    include_waitlisted: bool
    built: rm.BuiltInstance
    applications: dict[int, Application]
    slots: dict[int, Slot]
    placements: dict[int, int]  # application id -> slot id
    unmatched: dict[int, str]  # application id -> reason code (domain.residency_matching)
    ranks: dict[int, int]
    unreleased: int = 0
    check: rm.AdjustmentCheck | None = None  # set when the placements were edited by hand

    def period(self, application_id: int) -> Period | None:
        return self.built.periods.get(str(application_id))

    def placed_in(self, slot_id: int) -> list[Application]:
        return [self.applications[a] for a, s in self.placements.items() if s == slot_id]

    def acceptable_slots(self, application_id: int) -> list[Slot]:
        return [self.slots[int(s)] for s in self.built.instance.applicants.get(str(application_id), ())]

    def free_places(self, slot_id: int) -> int:
        return self.built.instance.slots[str(slot_id)].capacity


def _build(call: Call, include_waitlisted: bool, only_slots: Sequence[int] | None = None) -> MatchPreview:
    applications = {a.id: a for a in _participants(call, include_waitlisted)}
    slots = {s.id: s for s in _call_slots(call, only_slots)}
    ranks = _ranking_positions(call)
    taken = _taken_periods(list(slots), include_offers=True)
    candidates = [
        Candidate(id=str(a.id), programme_ids=tuple(p.programme_id for p in a.preferences), space_type=a.space_type,
                  desired_start=a.desired_start, length_months=a.desired_length_months, rank=ranks.get(a.id),
                  submitted_at=a.submitted_at)
        for a in applications.values()
    ]
    built = rm.build_instance(candidates, [_slot_spec(s, taken[s.id]) for s in slots.values()])
    return MatchPreview(call=call, include_waitlisted=include_waitlisted, built=built, applications=applications,
                        slots=slots, placements={}, unmatched={}, ranks=ranks)


def match_preview(call: Call, *, include_waitlisted: bool = False) -> MatchPreview:
    """Who would go where if offers were made now, and why the others would get nothing."""
    preview = _build(call, include_waitlisted)
    outcome = rm.solve(preview.built)
    preview.placements = {int(a): int(s) for a, s in outcome.placements.items()}
    preview.unmatched = {int(a): reason for a, reason in outcome.unmatched.items()}
    preview.unreleased = unreleased_count(call)
    return preview


def adjusted_preview(call: Call, placements: Mapping[int, int], *, include_waitlisted: bool = False) -> MatchPreview:
    """The preview with a manager's hand-made placements, checked: ``preview.check`` names the
    pairs that make it unstable and what would be refused on confirming."""
    preview = _build(call, include_waitlisted)
    unknown = [a for a in placements if a not in preview.applications]
    if unknown:
        raise ServiceError(f"Application {unknown[0]} cannot be placed: it is not (or no longer) waiting for an "
                           "offer in this call. Reload the match.")
    foreign = [s for s in placements.values() if s not in preview.slots]
    if foreign:
        raise ServiceError(f"Slot {foreign[0]} is not a slot of this call's programmes.")
    as_text = {str(a): str(s) for a, s in placements.items()}
    preview.placements = dict(placements)
    preview.unmatched = {int(a): r for a, r in rm.explain_unmatched(preview.built, as_text).items()}
    preview.check = rm.check_placements(preview.built, as_text)
    preview.unreleased = unreleased_count(call)
    return preview


def confirm_offers(manager: User, call: Call, assignments: Mapping[int, int], response_days: int,
                   now: dt.datetime, *, include_waitlisted: bool = False) -> list[Offer]:
    """Make the offers: one per placed application, each emailed with its response deadline.

    Refuses (nothing is offered) when a stay does not fit its slot's period or a slot would hold
    more than its capacity in some month; instability only warns (the manager may have reasons).
    """
    _ensure_manager(manager)
    if not 1 <= response_days <= MAX_RESPONSE_DAYS:
        raise ServiceError(f"Give between 1 and {MAX_RESPONSE_DAYS} days to answer.", field="response_days")
    if not assignments:
        raise ServiceError("Nobody is placed, so there is no offer to make.")
    lock_slots(assignments.values())  # before counting, so two managers cannot offer one place twice
    preview = adjusted_preview(call, assignments, include_waitlisted=include_waitlisted)
    check = preview.check
    assert check is not None
    if check.outside_period:
        application_id, slot_id = check.outside_period[0]
        raise ServiceError(f"{_company(preview.applications[int(application_id)])}'s stay does not fit in the period "
                           f"of {preview.slots[int(slot_id)].label}.")
    if check.over_capacity:
        problem = check.over_capacity[0]
        raise ServiceError(f"{preview.slots[int(problem.slot)].label} would hold {problem.wanted} startups in "
                           f"{problem.month:%B %Y} but has {problem.capacity} places.")
    deadline = now + dt.timedelta(days=response_days)
    offers = [
        _make_offer(preview.applications[application_id], preview.slots[slot_id], preview.period(application_id),
                    deadline, now, manager)
        for application_id, slot_id in sorted(assignments.items())
    ]
    record_event(manager, "offers.confirmed", "call", call.id, offers=[o.id for o in offers],
                 response_days=response_days, blocking_pairs=[list(p) for p in check.blocking])
    return offers


def _make_offer(application: Application, slot: Slot, period: Period | None, deadline: dt.datetime,
                now: dt.datetime, manager: User | None, refill_of: Offer | None = None) -> Offer:
    assert period is not None  # participants without a period are never placed (outside_period)
    offer = Offer(application=application, slot=slot, state="offered", starts_on=period[0], ends_on=period[1],
                  response_deadline=deadline, created_at=now, offered_at=now,
                  created_by_id=manager.id if manager else None, refill_of_id=refill_of.id if refill_of else None)
    db.session.add(offer)
    db.session.flush()
    applicant = application.applicant
    if applicant.active:
        queue_email(applicant.email, f"Residency offer: {slot.programme.name}", "offer", kind="offer",
                    dedupe_key=f"offer:{offer.id}", user=applicant, offer=offer, application=application,
                    slot=slot, link=offer_link(offer), timezone=application.call.timezone)
    record_event(manager, "offer.made", "offer", offer.id, application_id=application.id, slot_id=slot.id,
                 refill_of=refill_of.id if refill_of else None)
    return offer


def offer_link(offer: Offer) -> str:
    """The offer page, under PUBLIC_BASE_URL also when the scheduler sends a refill offer."""
    return public_url("apply.offer", offer_id=offer.id)


def _company(application: Application) -> str:
    return application.company_name or f"Application {application.id}"


# ---------------------------------------------------------------------------- answering


def _own_offer(user: User, offer: Offer) -> None:
    if offer.application.applicant_id != user.id:
        raise OfferNotFound("No such offer.")


def _ensure_answerable(offer: Offer, now: dt.datetime) -> None:
    if offer.state == "accepted":
        raise ServiceError("You have already accepted this offer.")
    if offer.state == "declined":
        raise ServiceError("You have already declined this offer.")
    if offer.state == "expired" or (offer.state == "offered" and now >= offer.response_deadline):
        raise ServiceError("The deadline to answer this offer has passed, so it can no longer be accepted or "
                           "declined. Contact the programme manager if you still want a place.")
    if offer.state != "offered":
        raise ServiceError("This offer has been withdrawn.")


def accept_offer(user: User, offer: Offer, now: dt.datetime) -> Residency:
    """Take the place, if it is still free in every month of the stay; else a clear refusal."""
    _own_offer(user, offer)
    lock_slots([offer.slot_id])
    db.session.refresh(offer)  # what was loaded before the lock may be stale
    _ensure_answerable(offer, now)
    slot = offer.slot
    periods = _taken_periods([slot.id], include_offers=False)[slot.id]
    months = rm.months_in(offer.starts_on, offer.ends_on)
    busiest = max(rm.monthly_occupancy(periods, months).values(), default=0)
    if busiest >= slot.capacity:
        raise ServiceError("Sorry: the last place in this slot has just been taken by another startup, so this offer "
                           "cannot be accepted. The programme manager will be in touch.")
    taken = db.session.execute(
        update(Offer).where(Offer.id == offer.id, Offer.state == "offered")
        .values(state="accepted", responded_at=now).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # answered or expired in between; the lock makes this rare
        raise ServiceError("This offer was answered or expired a moment ago; reload the page.")
    db.session.refresh(offer)
    residency = Residency(application_id=offer.application_id, offer_id=offer.id, slot_id=slot.id, state="active",
                          starts_on=offer.starts_on, ends_on=offer.ends_on, created_at=now, updated_at=now)
    db.session.add(residency)
    db.session.flush()
    record_event(user, "offer.accepted", "offer", offer.id, residency_id=residency.id)
    application = offer.application
    queue_email(user.email, f"Your residency is confirmed: {slot.programme.name}", "offer_accepted",
                kind="offer_accepted", dedupe_key=f"offer-accepted:{offer.id}", user=user, offer=offer,
                application=application, slot=slot)
    return residency


def decline_offer(user: User, offer: Offer, now: dt.datetime) -> Offer | None:
    """Decline; the place goes to the next eligible startup (returned, if there is one)."""
    _own_offer(user, offer)
    lock_slots([offer.slot_id])
    db.session.refresh(offer)
    _ensure_answerable(offer, now)
    offer.state, offer.responded_at = "declined", now
    db.session.flush()
    record_event(user, "offer.declined", "offer", offer.id)
    return refill_place(offer, now)


def withdraw_offer(manager: User, offer: Offer, now: dt.datetime) -> None:
    """A manager takes back an unanswered offer (e.g. sent by mistake); the place is freed but
    not refilled automatically, since the manager is at the match page anyway."""
    _ensure_manager(manager)
    lock_slots([offer.slot_id])
    db.session.refresh(offer)
    if offer.state not in OPEN_OFFER_STATES:
        raise ServiceError("Only an unanswered offer can be withdrawn.")
    offer.state, offer.responded_at = "withdrawn", now
    db.session.flush()
    record_event(manager, "offer.withdrawn", "offer", offer.id)


def refill_place(freed: Offer, now: dt.datetime) -> Offer | None:
    """Offer a freed place to the next eligible startup of the same call: the match re-run for
    that slot alone, over accepted and waitlisted startups still waiting, with every residency
    and outstanding offer kept fixed. The best-ranked startup the slot can take gets it, with
    as long to answer as the freed offer gave."""
    call = freed.application.call
    lock_slots([freed.slot_id])
    preview = _build(call, include_waitlisted=True, only_slots=[freed.slot_id])
    matching_slot = preview.built.instance.slots.get(str(freed.slot_id))
    if matching_slot is None or matching_slot.capacity == 0:
        return None
    outcome = rm.solve(preview.built)
    placed = [int(a) for a, s in outcome.placements.items() if s == str(freed.slot_id)]
    if not placed:
        return None
    ranking = [int(a) for a in matching_slot.ranking]
    best = min(placed, key=ranking.index)
    sent = freed.offered_at or now
    days = max(math.ceil((freed.response_deadline - sent).total_seconds() / 86400), 1)
    return _make_offer(preview.applications[best], preview.slots[freed.slot_id], preview.period(best),
                       now + dt.timedelta(days=days), now, None, refill_of=freed)


def expire_offers(now: dt.datetime) -> int:
    """Expire every offer past its deadline and refill its place; returns how many expired.

    Idempotent: only offers still ``offered`` are touched, each by a guarded UPDATE, so a second
    run (or a second scheduler) finds nothing to do. Flushes; the caller commits.
    """
    due = list(db.session.scalars(
        select(Offer.id).where(Offer.state == "offered", Offer.response_deadline <= now).order_by(Offer.id)))
    expired = 0
    for offer_id in due:
        offer = db.session.get(Offer, offer_id)
        assert offer is not None
        lock_slots([offer.slot_id])
        result = db.session.execute(
            update(Offer).where(Offer.id == offer_id, Offer.state == "offered", Offer.response_deadline <= now)
            .values(state="expired", responded_at=now).execution_options(synchronize_session=False))
        if result.rowcount != 1:
            continue  # answered or expired by someone else meanwhile
        db.session.refresh(offer)
        expired += 1
        record_event(None, "offer.expired", "offer", offer.id)
        applicant = offer.application.applicant
        if applicant.active:
            queue_email(applicant.email, "Your residency offer has expired", "offer_expired", kind="offer_expired",
                        dedupe_key=f"offer-expired:{offer.id}", user=applicant, offer=offer,
                        application=offer.application, slot=offer.slot)
        refill_place(offer, now)
    db.session.flush()
    return expired


OFFER_REMINDER_BEFORE = dt.timedelta(days=2)


def remind_expiring_offers(now: dt.datetime, before: dt.timedelta = OFFER_REMINDER_BEFORE) -> int:
    """Remind startups whose offer expires within ``before``; once per offer, ever.

    The outbox's unique dedupe key makes "once" a database fact: keys already queued are read
    in one query, and a second scheduler racing for the same offer loses inside a savepoint.
    Flushes; the caller commits.
    """
    due = list(db.session.scalars(
        select(Offer).where(Offer.state == "offered", Offer.response_deadline > now,
                            Offer.response_deadline <= now + before)
        .options(selectinload(Offer.application), selectinload(Offer.slot)).order_by(Offer.id)))
    keys = {offer.id: f"offer-reminder:{offer.id}" for offer in due}
    already = set(db.session.scalars(select(OutboundEmail.dedupe_key)
                                     .where(OutboundEmail.dedupe_key.in_(list(keys.values()))))) if keys else set()
    sent = 0
    for offer in due:
        applicant = offer.application.applicant
        if keys[offer.id] in already or not applicant.active:
            continue
        try:
            with db.session.begin_nested():
                queue_email(applicant.email, "Reminder: your residency offer is waiting for an answer",
                            "offer_reminder", kind="offer_reminder", dedupe_key=keys[offer.id], user=applicant,
                            offer=offer, application=offer.application, slot=offer.slot, link=offer_link(offer),
                            timezone=offer.application.call.timezone)
        except IntegrityError:
            continue  # another scheduler queued it first
        sent += 1
    return sent


def offers_for_call(call: Call) -> list[Offer]:
    return list(db.session.scalars(
        select(Offer).join(Application, Application.id == Offer.application_id).where(Application.call_id == call.id)
        .options(selectinload(Offer.application), selectinload(Offer.slot)).order_by(Offer.created_at, Offer.id)))


# ---------------------------------------------------------------------------- residencies


def _ensure_active(residency: Residency) -> None:
    if residency.state != "active":
        raise ServiceError(f"This residency is {residency.state.replace('_', ' ')}, not active.")


def end_residency_early(manager: User, residency: Residency, ended_on: dt.date, now: dt.datetime) -> None:
    """The startup leaves on ``ended_on``; the place is free from that day (that month counts
    as taken in the monthly timeline)."""
    _ensure_manager(manager)
    _ensure_active(residency)
    if not residency.starts_on < ended_on < residency.ends_on:
        raise ServiceError("Choose an end date after the residency starts and before its planned end.",
                           field="ended_on")
    residency.state, residency.ended_on, residency.ends_on = "ended_early", ended_on, ended_on
    residency.updated_at = now
    db.session.flush()
    record_event(manager, "residency.ended_early", "residency", residency.id, ended_on=ended_on.isoformat())


def extend_residency(manager: User, residency: Residency, months: int, now: dt.datetime) -> None:
    """Add months to a stay, only inside the slot's period and where a place is free in every
    added month (residencies and outstanding offers counted)."""
    _ensure_manager(manager)
    _ensure_active(residency)
    if not 1 <= months <= 36:
        raise ServiceError("Extend by 1 to 36 months.", field="months")
    slot = residency.slot
    lock_slots([slot.id])
    new_end = rm.add_months(rm.month_start(residency.ends_on), months) if residency.ends_on.day == 1 else (
        rm.add_months(rm.month_start(residency.ends_on), months + 1))
    if new_end > rm.slot_months(slot.starts_on, slot.ends_on)[1]:
        raise ServiceError(f"{slot.label} ends before that; the stay cannot run past the slot's period.",
                           field="months")
    others = _taken_periods([slot.id], include_offers=True, exclude_residency=residency.id)[slot.id]
    added = rm.months_in(residency.ends_on, new_end)
    counts = rm.monthly_occupancy(others, added)
    full = [month for month in added if counts[month] >= slot.capacity]
    if full:
        raise ServiceError(f"{slot.label} has no free place in {full[0]:%B %Y}; the residency cannot be extended "
                           "that far.", field="months")
    if residency.original_ends_on is None:
        residency.original_ends_on = residency.ends_on
    residency.ends_on, residency.updated_at = new_end, now
    db.session.flush()
    record_event(manager, "residency.extended", "residency", residency.id, ends_on=new_end.isoformat())


def complete_residency(manager: User, residency: Residency, now: dt.datetime) -> None:
    _ensure_manager(manager)
    _ensure_active(residency)
    if residency.ends_on > now.date():
        raise ServiceError("This residency has not reached its end yet; end it early instead.")
    residency.state, residency.updated_at = "completed", now
    db.session.flush()
    record_event(manager, "residency.completed", "residency", residency.id)


# ---------------------------------------------------------------------------- occupancy


@dataclass(frozen=True)
class Cell:
    kind: str  # resident | offered | free | closed (outside the slot's period)
    span: int = 1
    label: str = ""
    residency_id: int | None = None
    offer_id: int | None = None


@dataclass
class SlotTimeline:
    slot: Slot
    lanes: list[list[Cell]]  # one row per place, cells spanning the months
    open: list[bool]  # per month: inside the slot's period
    occupied: list[int]  # residencies per month
    offered: list[int]  # outstanding offers per month
    free: list[int]

    @property
    def utilisation(self) -> list[float | None]:
        return [o / self.slot.capacity if is_open and self.slot.capacity else None
                for o, is_open in zip(self.occupied, self.open, strict=True)]


@dataclass(frozen=True)
class Vacancy:
    slot: Slot
    month: dt.date
    places: int


@dataclass
class Occupancy:
    months: list[dt.date]
    slots: list[SlotTimeline]
    vacancies: list[Vacancy] = field(default_factory=list)

    @property
    def capacity(self) -> list[int]:
        return [sum(t.slot.capacity for t in self.slots if t.open[i]) for i in range(len(self.months))]

    @property
    def occupied(self) -> list[int]:
        return [sum(t.occupied[i] for t in self.slots) for i in range(len(self.months))]

    @property
    def utilisation(self) -> list[float | None]:
        return [o / c if c else None for o, c in zip(self.occupied, self.capacity, strict=True)]


@dataclass(frozen=True)
class _Stay:
    start: int  # month index in the window, may be < 0
    end: int  # exclusive month index
    label: str
    residency_id: int | None = None
    offer_id: int | None = None


def occupancy(*, start_month: dt.date, months: int, programme_id: int | None = None,
              site_id: int | None = None) -> Occupancy:
    """Months across, slots down: who sits where, what is offered, free places, utilisation
    (residents ÷ capacity, per month) and the months in which places become free."""
    if months < 1:
        raise ValueError("show at least one month")
    window = [rm.add_months(rm.month_start(start_month), n) for n in range(months)]
    window_end = rm.add_months(window[-1], 1)
    query = select(Slot).where(Slot.starts_on < window_end, Slot.ends_on > window[0])
    if programme_id is not None:
        query = query.where(Slot.programme_id == programme_id)
    if site_id is not None:
        query = query.where(Slot.site_id == site_id)
    slots = list(db.session.scalars(query.options(selectinload(Slot.programme), selectinload(Slot.site))
                                    .order_by(Slot.programme_id, Slot.site_id, Slot.label, Slot.id)))
    stays = _stays([s.id for s in slots], window[0], window_end)
    timelines = [_timeline(slot, window, stays[slot.id]) for slot in slots]
    return Occupancy(months=window, slots=timelines, vacancies=_vacancies(timelines, window))


def _month_index(day: dt.date, first: dt.date) -> int:
    return (day.year - first.year) * 12 + day.month - first.month


def _stays(slot_ids: Sequence[int], first: dt.date, end: dt.date) -> dict[int, list[_Stay]]:
    stays: dict[int, list[_Stay]] = defaultdict(list)
    if not slot_ids:
        return stays
    residencies = db.session.execute(
        select(Residency.id, Residency.slot_id, Residency.starts_on, Residency.ends_on, Application.company_name)
        .join(Application, Application.id == Residency.application_id)
        .where(Residency.slot_id.in_(slot_ids), Residency.starts_on < end, Residency.ends_on > first))
    for residency_id, slot_id, starts_on, ends_on, company in residencies:
        stays[slot_id].append(_Stay(_month_index(starts_on, first), _end_index(ends_on, first), company or "—",
                                    residency_id=residency_id))
    offers = db.session.execute(
        select(Offer.id, Offer.slot_id, Offer.starts_on, Offer.ends_on, Application.company_name)
        .join(Application, Application.id == Offer.application_id)
        .where(Offer.slot_id.in_(slot_ids), Offer.state.in_(OPEN_OFFER_STATES), Offer.starts_on < end,
               Offer.ends_on > first))
    for offer_id, slot_id, starts_on, ends_on, company in offers:
        stays[slot_id].append(_Stay(_month_index(starts_on, first), _end_index(ends_on, first), company or "—",
                                    offer_id=offer_id))
    return stays


def _end_index(ends_on: dt.date, first: dt.date) -> int:
    """Exclusive month index: a stay ending mid-month still takes that month."""
    index = _month_index(ends_on, first)
    return index if ends_on.day == 1 else index + 1


def _timeline(slot: Slot, window: list[dt.date], stays: list[_Stay]) -> SlotTimeline:
    n = len(window)
    first, end = rm.slot_months(slot.starts_on, slot.ends_on)
    is_open = [first <= month < end for month in window]
    lanes_of_stays: list[list[_Stay]] = []
    # Residents first so they take the top rows; then first-fit by start month.
    for stay in sorted(stays, key=lambda s: (s.offer_id is not None, s.start, s.end)):
        lane = next((lane for lane in lanes_of_stays if lane[-1].end <= stay.start), None)
        if lane is None:
            lanes_of_stays.append([stay])
        else:
            lane.append(stay)
    while len(lanes_of_stays) < slot.capacity:
        lanes_of_stays.append([])
    occupied, offered = [0] * n, [0] * n
    for stay in stays:
        for i in range(max(stay.start, 0), min(stay.end, n)):
            if stay.residency_id is not None:
                occupied[i] += 1
            else:
                offered[i] += 1
    free = [max(slot.capacity - occupied[i] - offered[i], 0) if is_open[i] else 0 for i in range(n)]
    lanes = [_lane_cells(lane, is_open) for lane in lanes_of_stays]
    return SlotTimeline(slot=slot, lanes=lanes, open=is_open, occupied=occupied, offered=offered, free=free)


def _lane_cells(stays: list[_Stay], is_open: list[bool]) -> list[Cell]:
    cells: list[Cell] = []
    i, n = 0, len(is_open)
    queue = list(stays)
    while i < n:
        if queue and max(queue[0].start, 0) <= i:
            stay = queue.pop(0)
            span = min(stay.end, n) - i
            cells.append(Cell(kind="resident" if stay.residency_id else "offered", span=span, label=stay.label,
                              residency_id=stay.residency_id, offer_id=stay.offer_id))
            i += span
        else:
            cells.append(Cell(kind="free" if is_open[i] else "closed"))
            i += 1
    return cells


def _vacancies(timelines: Sequence[SlotTimeline], window: Sequence[dt.date]) -> list[Vacancy]:
    """Each month in which a slot has more free places than the month before (the window's
    first month counts when it has any), so managers see when places come up."""
    found = []
    for timeline in timelines:
        before = 0
        for i, month in enumerate(window):
            now_free = timeline.free[i]
            if timeline.open[i] and now_free > before:
                found.append(Vacancy(timeline.slot, month, now_free - before))
            before = now_free if timeline.open[i] else 0
    return sorted(found, key=lambda v: (v.month, v.slot.label))


CSV_HEADER = ("programme", "site", "slot", "space_type", "month", "capacity", "residents", "offered", "free",
              "utilisation")


def occupancy_csv(data: Occupancy) -> str:
    """One row per slot and month; utilisation is residents ÷ capacity, empty when closed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for timeline in data.slots:
        slot = timeline.slot
        for i, month in enumerate(data.months):
            if not timeline.open[i]:
                continue
            share = timeline.utilisation[i]
            writer.writerow([_safe(slot.programme.name), _safe(slot.site.name), _safe(slot.label), slot.space_type,
                             f"{month:%Y-%m}", slot.capacity, timeline.occupied[i], timeline.offered[i],
                             timeline.free[i], "" if share is None else f"{share:.2f}"])
    return out.getvalue()


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas in names managers typed (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def residencies_for(*, programme_id: int | None = None, active_only: bool = False) -> list[Residency]:
    query = select(Residency).options(selectinload(Residency.application), selectinload(Residency.slot))
    if programme_id is not None:
        query = query.join(Slot, Slot.id == Residency.slot_id).where(Slot.programme_id == programme_id)
    if active_only:
        query = query.where(Residency.state == "active")
    return list(db.session.scalars(query.order_by(Residency.starts_on, Residency.id)))


def open_offer_for(application_id: int) -> Offer | None:
    return db.session.scalar(select(Offer).where(and_(Offer.application_id == application_id,
                                                      Offer.state.in_(LIVE_OFFER_STATES))))
