"""Residency offers: making them from a match, answering, withdrawing, expiring and refilling.

Every change that takes a place locks the slot first (``services.slots.lock_slots``).
Like every service these functions flush and never commit. ``expire_offers`` is meant for the
scheduler process: it flushes too, and the caller commits (all expired offers and their
refills in one transaction; it is idempotent by offer state, so a crash before the commit only
means the next run does the same work again).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, and_, cast, func, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.domain.membership import Permission
from incubator.domain.residency_matching import Period
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import (
    Application,
    Call,
    MatchRun,
    Offer,
    OutboundEmail,
    Residency,
    Slot,
    User,
)
from incubator.models.residencies import LIVE_OFFER_STATES, OPEN_OFFER_STATES
from incubator.services import ServiceError, month_year
from incubator.services.audit import record_event
from incubator.services.exchange import residency_direction
from incubator.services.match_runs import adjusted_preview, build_preview, is_stale, run_placements
from incubator.services.membership import can, dedupe_for, recipients
from incubator.services.notifications import queue_email
from incubator.services.slots import ensure_manager, lock_slots, taken_periods

DEFAULT_RESPONSE_DAYS = 14
MAX_RESPONSE_DAYS = 90


class OfferNotFound(ServiceError):
    """The offer is not this person's; the web layer answers 404 so ids reveal nothing."""


def confirm_offers(manager: User, call: Call, assignments: Mapping[int, int], response_days: int,
                   now: dt.datetime, *, include_waitlisted: bool = False) -> list[Offer]:
    """Make the offers: one per placed application, each emailed with its response deadline.

    Refuses (nothing is offered) when a stay does not fit its slot's period or a slot would hold
    more than its capacity in some month; instability only warns (the manager may have reasons).
    """
    ensure_manager(manager)
    if not 1 <= response_days <= MAX_RESPONSE_DAYS:
        raise ServiceError(_("Give between 1 and %(max)d days to answer.", max=MAX_RESPONSE_DAYS), field="response_days")
    if not assignments:
        raise ServiceError(_("Nobody is placed, so there is no offer to make."))
    lock_slots(assignments.values())  # before counting, so two managers cannot offer one place twice
    preview = adjusted_preview(call, assignments, include_waitlisted=include_waitlisted)
    check = preview.check
    assert check is not None
    if check.outside_period:
        application_id, slot_id = check.outside_period[0]
        raise ServiceError(_("The stay of %(company)s does not fit in the period of %(slot)s.",
                             company=_company(preview.applications[int(application_id)]),
                             slot=preview.slots[int(slot_id)].label))
    if check.over_capacity:
        problem = check.over_capacity[0]
        raise ServiceError(_("%(slot)s would hold %(wanted)d startups in %(month)s but has %(places)d places.",
                             slot=preview.slots[int(problem.slot)].label, wanted=problem.wanted,
                             month=month_year(problem.month), places=problem.capacity))
    deadline = now + dt.timedelta(days=response_days)
    offers = [
        make_offer(preview.applications[application_id], preview.slots[slot_id], preview.period(application_id),
                    deadline, now, manager)
        for application_id, slot_id in sorted(assignments.items())
    ]
    record_event(manager, "offers.confirmed", "call", call.id, offers=[o.id for o in offers],
                 response_days=response_days, blocking_pairs=[list(p) for p in check.blocking])
    return offers


def make_offer(application: Application, slot: Slot, period: Period | None, deadline: dt.datetime,
                now: dt.datetime, manager: User | None, refill_of: Offer | None = None) -> Offer:
    assert period is not None  # participants without a period are never placed (outside_period)
    offer = Offer(application=application, slot=slot, state="offered", starts_on=period[0], ends_on=period[1],
                  response_deadline=deadline, created_at=now, offered_at=now,
                  created_by_id=manager.id if manager else None, refill_of_id=refill_of.id if refill_of else None)
    db.session.add(offer)
    db.session.flush()
    for person in recipients(application):
        queue_email(person.email, _l("Residency offer: %(programme)s", programme=slot.programme.name), "offer",
                    kind="offer", locale=person.locale,
                    dedupe_key=dedupe_for(f"offer:{offer.id}", person, application), user=person, offer=offer,
                    application=application, slot=slot, link=offer_link(offer), timezone=application.call.timezone)
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
    """Only the owner, or a member the owner allowed, answers; the rest of the team reads."""
    if not can(user, offer.application, Permission.RESPOND):
        raise OfferNotFound(_("No such offer."))


def _ensure_answerable(offer: Offer, now: dt.datetime) -> None:
    if offer.state == "accepted":
        raise ServiceError(_("You have already accepted this offer."))
    if offer.state == "declined":
        raise ServiceError(_("You have already declined this offer."))
    if offer.state == "expired" or (offer.state == "offered" and now >= offer.response_deadline):
        raise ServiceError(_("The deadline to answer this offer has passed, so it can no longer be accepted or "
                           "declined. Contact the programme manager if you still want a place."))
    if offer.state != "offered":
        raise ServiceError(_("This offer has been withdrawn."))


def accept_offer(user: User, offer: Offer, now: dt.datetime) -> Residency:
    """Take the place, if it is still free in every month of the stay; else a clear refusal."""
    _own_offer(user, offer)
    lock_slots([offer.slot_id])
    db.session.refresh(offer)  # what was loaded before the lock may be stale
    _ensure_answerable(offer, now)
    slot = offer.slot
    periods = taken_periods([slot.id], include_offers=False)[slot.id]
    months = rm.months_in(offer.starts_on, offer.ends_on)
    busiest = max(rm.monthly_occupancy(periods, months).values(), default=0)
    if busiest >= slot.capacity:
        raise ServiceError(_("Sorry: the last place in this slot has just been taken by another startup, so this offer "
                           "cannot be accepted. The programme manager will be in touch."))
    taken = db.session.execute(
        update(Offer).where(Offer.id == offer.id, Offer.state == "offered")
        .values(state="accepted", responded_at=now).execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # answered or expired in between; the lock makes this rare
        raise ServiceError(_("This offer was answered or expired a moment ago; reload the page."))
    db.session.refresh(offer)
    residency = Residency(application_id=offer.application_id, offer_id=offer.id, slot_id=slot.id, state="active",
                          starts_on=offer.starts_on, ends_on=offer.ends_on, created_at=now, updated_at=now,
                          exchange_direction=residency_direction(offer.application, slot))
    db.session.add(residency)
    db.session.flush()
    record_event(user, "offer.accepted", "offer", offer.id, residency_id=residency.id)
    application = offer.application
    for person in recipients(application):
        queue_email(person.email, _l("Your residency is confirmed: %(programme)s", programme=slot.programme.name),
                    "offer_accepted", kind="offer_accepted", locale=person.locale,
                    dedupe_key=dedupe_for(f"offer-accepted:{offer.id}", person, application), user=person,
                    offer=offer, application=application, slot=slot)
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
    ensure_manager(manager)
    lock_slots([offer.slot_id])
    db.session.refresh(offer)
    if offer.state not in OPEN_OFFER_STATES:
        raise ServiceError(_("Only an unanswered offer can be withdrawn."))
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
    preview = build_preview(call, include_waitlisted=True, only_slots=[freed.slot_id])
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
    return make_offer(preview.applications[best], preview.slots[freed.slot_id], preview.period(best),
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
        for person in recipients(offer.application):
            queue_email(person.email, _l("Your residency offer has expired"), "offer_expired", kind="offer_expired",
                        locale=person.locale,
                        dedupe_key=dedupe_for(f"offer-expired:{offer.id}", person, offer.application), user=person,
                        offer=offer, application=offer.application, slot=offer.slot)
        refill_place(offer, now)
    db.session.flush()
    return expired


OFFER_REMINDER_BEFORE = dt.timedelta(days=2)
OFFER_REMINDER_KEY = "offer-reminder:"  # + offer id: the outbox dedupe key of its reminder


def remind_expiring_offers(now: dt.datetime, before: dt.timedelta = OFFER_REMINDER_BEFORE) -> int:
    """Remind startups whose offer expires within ``before``; once per offer, ever.

    The outbox's unique dedupe key makes "once" a database fact: offers whose reminder is
    already queued are left out by the query itself (a join on the key, not a list of keys
    bound one parameter each), and a second scheduler racing for the same offer loses inside a
    savepoint. Flushes; the caller commits.
    """
    reminded = select(OutboundEmail.id).where(
        OutboundEmail.dedupe_key == literal(OFFER_REMINDER_KEY) + cast(Offer.id, String)).exists()
    due = list(db.session.scalars(
        select(Offer).where(Offer.state == "offered", Offer.response_deadline > now,
                            Offer.response_deadline <= now + before, ~reminded)
        .options(selectinload(Offer.application), selectinload(Offer.slot)).order_by(Offer.id)))
    keys = {offer.id: f"{OFFER_REMINDER_KEY}{offer.id}" for offer in due}
    sent = 0
    for offer in due:
        if not offer.application.applicant.active:  # the owner's key is the once-only ledger
            continue
        try:
            with db.session.begin_nested():
                for person in recipients(offer.application):
                    queue_email(person.email, _l("Reminder: your residency offer is waiting for an answer"),
                                "offer_reminder", kind="offer_reminder", locale=person.locale,
                                dedupe_key=dedupe_for(keys[offer.id], person, offer.application), user=person,
                                offer=offer, application=offer.application, slot=offer.slot,
                                link=offer_link(offer), timezone=offer.application.call.timezone)
        except IntegrityError:
            continue  # another scheduler queued it first
        sent += 1
    return sent


def offers_for_call(call: Call) -> list[Offer]:
    return list(db.session.scalars(
        select(Offer).join(Application, Application.id == Offer.application_id).where(Application.call_id == call.id)
        .options(selectinload(Offer.application), selectinload(Offer.slot)).order_by(Offer.created_at, Offer.id)))



def open_offer_for(application_id: int) -> Offer | None:
    return db.session.scalar(select(Offer).where(and_(Offer.application_id == application_id,
                                                      Offer.state.in_(LIVE_OFFER_STATES))))


def confirm_run(manager: User, run: MatchRun, response_days: int, now: dt.datetime) -> list[Offer]:
    """Turn a stored, current match run into offers (``confirm_offers`` re-checks everything
    under the slot locks); a run whose inputs changed since it was computed is refused."""
    ensure_manager(manager)
    if run.state == "confirmed":
        raise ServiceError(_("This match has already been confirmed."))
    if is_stale(run):
        raise ServiceError(_("Decisions, rankings, slots or offers changed since this match was computed; "
                           "compute it again before confirming."))
    offers = confirm_offers(manager, run.call, run_placements(run), response_days, now,
                            include_waitlisted=run.include_waitlisted)
    run.state = "confirmed"
    db.session.flush()
    return offers


def recent_offers_for_call(call: Call, limit: int) -> tuple[list[Offer], int]:
    """The newest ``limit`` offers of a call, and how many it has in all."""
    of_call = select(Offer).join(Application, Application.id == Offer.application_id).where(
        Application.call_id == call.id)
    total = db.session.scalar(select(func.count()).select_from(of_call.subquery())) or 0
    shown = list(db.session.scalars(of_call.options(selectinload(Offer.application), selectinload(Offer.slot))
                                    .order_by(Offer.created_at.desc(), Offer.id.desc()).limit(limit)))
    return shown, total
