"""Residency slots: creating, changing and deleting them, and who takes their places.

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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_sqlalchemy.pagination import Pagination
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.domain.ids import as_row_id
from incubator.domain.residency_matching import Period, SlotSpec
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Offer,
    Programme,
    Residency,
    Site,
    Slot,
    User,
)
from incubator.models.programmes import SPACE_TYPES
from incubator.models.residencies import OPEN_OFFER_STATES
from incubator.services import ServiceError
from incubator.services.audit import record_event

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


def ensure_manager(user: User) -> None:
    if not user.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers manage residency slots and offers."))


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
        raise ServiceError(_("Choose a programme."), field="programme_id")
    if db.session.get(Site, data.site_id) is None:
        raise ServiceError(_("Choose a site."), field="site_id")
    if not data.label.strip():
        raise ServiceError(_("Give the slot a name."), field="label")
    if data.space_type not in SPACE_TYPES:
        raise ServiceError(_("Choose office desk, lab bench or office + lab."), field="space_type")
    if data.capacity < 0:
        raise ServiceError(_("Capacity cannot be negative."), field="capacity")
    if data.ends_on <= data.starts_on:
        raise ServiceError(_("The last month must not be before the first month."), field="ends_on")


def create_slot(manager: User, data: SlotData) -> Slot:
    ensure_manager(manager)
    _check_slot_data(data)
    slot = Slot(**data.__dict__)
    slot.label = data.label.strip()
    db.session.add(slot)
    db.session.flush()
    record_event(manager, "slot.created", "slot", slot.id, label=slot.label, capacity=slot.capacity)
    return slot


def update_slot(manager: User, slot: Slot, data: SlotData) -> Slot:
    """Change a slot, unless that would strand a resident or an offer outside it or over it."""
    ensure_manager(manager)
    _check_slot_data(data)
    lock_slots([slot.id])
    periods = taken_periods([slot.id], include_offers=True)[slot.id]
    first, end = rm.slot_months(data.starts_on, data.ends_on)
    if any(start < first or stop > end for start, stop in periods):
        raise ServiceError(_("Residents or offers in this slot fall outside the new period; "
                           "end or move them first."), field="ends_on")
    busiest = busiest_month(periods)
    if data.capacity < busiest:
        raise ServiceError(_("%(num)d places are taken or offered in the busiest month; capacity cannot be lower.",
                             num=busiest), field="capacity")
    if data.programme_id != slot.programme_id and periods:
        raise ServiceError(_("A slot with residents or offers cannot move to another programme."), field="programme_id")
    for name, value in data.__dict__.items():
        setattr(slot, name, value)
    slot.label = data.label.strip()
    db.session.flush()
    record_event(manager, "slot.updated", "slot", slot.id, label=slot.label, capacity=slot.capacity)
    return slot


def delete_slot(manager: User, slot: Slot) -> None:
    ensure_manager(manager)
    used = db.session.scalar(select(func.count()).select_from(Offer).where(Offer.slot_id == slot.id))
    used = used or db.session.scalar(select(func.count()).select_from(Residency).where(Residency.slot_id == slot.id))
    if used:
        raise ServiceError(_("This slot has offers or residencies; set its capacity to 0 instead of deleting it."))
    record_event(manager, "slot.deleted", "slot", slot.id, label=slot.label)
    db.session.delete(slot)
    db.session.flush()


def busiest_month(periods: Sequence[Period]) -> int:
    """The most places the periods take in any one month."""
    if not periods:
        return 0
    months = rm.months_in(min(p[0] for p in periods), max(p[1] for p in periods))
    return max(rm.monthly_occupancy(periods, months).values())


def taken_periods(slot_ids: Sequence[int], *, include_offers: bool,
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


def slot_spec(slot: Slot, periods: Sequence[Period]) -> SlotSpec:
    first, end = rm.slot_months(slot.starts_on, slot.ends_on)
    counts = rm.monthly_occupancy(periods, rm.months_in(first, end)) if end > first and periods else {}
    occupied = {month: count for month, count in counts.items() if count}  # empty months are implied
    return SlotSpec(id=str(slot.id), programme_id=slot.programme_id, space_type=slot.space_type,
                    capacity=slot.capacity, starts_on=slot.starts_on, ends_on=slot.ends_on, occupied=occupied)


SLOTS_PER_PAGE = 50


def slot_page(*, search: str = "", programme_id: int | None = None, page: int = 1,
              per_page: int = SLOTS_PER_PAGE) -> Pagination:
    """One page of the slot inventory, searched by name (or number) and filtered by programme."""
    query = select(Slot).options(selectinload(Slot.programme), selectinload(Slot.site))
    if search:
        named = func.lower(Slot.label).contains(search.lower(), autoescape=True)
        slot_id = as_row_id(search)
        query = query.where(or_(named, Slot.id == slot_id) if slot_id else named)
    if programme_id is not None:
        query = query.where(Slot.programme_id == programme_id)
    query = query.order_by(Slot.programme_id, Slot.starts_on, Slot.label, Slot.id)
    return db.paginate(query, page=page, per_page=per_page, error_out=False)


def find_call_slots(programme_ids: Sequence[int], text: str, limit: int = 20) -> list[Slot]:
    """Slots of these programmes whose name contains ``text`` (or whose number it is), for
    picking one by typing rather than from a list of every slot."""
    query = select(Slot).where(Slot.programme_id.in_(programme_ids))
    text = text.strip()
    if text:
        named = func.lower(Slot.label).contains(text.lower(), autoescape=True)
        slot_id = as_row_id(text)
        query = query.where(or_(named, Slot.id == slot_id) if slot_id else named)
    return list(db.session.scalars(query.order_by(Slot.label, Slot.id).limit(limit)))
