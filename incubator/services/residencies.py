"""The residency lifecycle: ending early, extending, completing, and the list of residencies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.extensions import db
from incubator.models import (
    Application,
    Residency,
    User,
)
from incubator.models.residencies import RESIDENCY_STATES
from incubator.services import ServiceError, month_year
from incubator.services.audit import record_event
from incubator.services.slots import ensure_manager, lock_slots, taken_periods

# ---------------------------------------------------------------------------- residencies


def _ensure_active(residency: Residency) -> None:
    if residency.state != "active":
        raise ServiceError(_("This residency is not active."))


def end_residency_early(manager: User, residency: Residency, ended_on: dt.date, now: dt.datetime) -> None:
    """The startup leaves on ``ended_on``; the place is free from that day (that month counts
    as taken in the monthly timeline)."""
    ensure_manager(manager)
    _ensure_active(residency)
    if not residency.starts_on < ended_on < residency.ends_on:
        raise ServiceError(_("Choose an end date after the residency starts and before its planned end."),
                           field="ended_on")
    residency.state, residency.ended_on, residency.ends_on = "ended_early", ended_on, ended_on
    residency.updated_at = now
    db.session.flush()
    record_event(manager, "residency.ended_early", "residency", residency.id, ended_on=ended_on.isoformat())


def extend_residency(manager: User, residency: Residency, months: int, now: dt.datetime) -> None:
    """Add months to a stay, only inside the slot's period and where a place is free in every
    added month (residencies and outstanding offers counted)."""
    ensure_manager(manager)
    _ensure_active(residency)
    if not 1 <= months <= 36:
        raise ServiceError(_("Extend by 1 to 36 months."), field="months")
    slot = residency.slot
    lock_slots([slot.id])
    new_end = rm.add_months(rm.month_start(residency.ends_on), months) if residency.ends_on.day == 1 else (
        rm.add_months(rm.month_start(residency.ends_on), months + 1))
    if new_end > rm.slot_months(slot.starts_on, slot.ends_on)[1]:
        raise ServiceError(_("%(slot)s ends before that; the stay cannot run past the slot's period.", slot=slot.label),
                           field="months")
    others = taken_periods([slot.id], include_offers=True, exclude_residency=residency.id)[slot.id]
    added = rm.months_in(residency.ends_on, new_end)
    counts = rm.monthly_occupancy(others, added)
    full = [month for month in added if counts[month] >= slot.capacity]
    if full:
        raise ServiceError(_("%(slot)s has no free place in %(month)s; the residency cannot be extended that far.",
                             slot=slot.label, month=month_year(full[0])), field="months")
    if residency.original_ends_on is None:
        residency.original_ends_on = residency.ends_on
    residency.ends_on, residency.updated_at = new_end, now
    db.session.flush()
    record_event(manager, "residency.extended", "residency", residency.id, ends_on=new_end.isoformat())


def complete_residency(manager: User, residency: Residency, now: dt.datetime) -> None:
    ensure_manager(manager)
    _ensure_active(residency)
    if residency.ends_on > now.date():
        raise ServiceError(_("This residency has not reached its end yet; end it early instead."))
    residency.state, residency.updated_at = "completed", now
    db.session.flush()
    record_event(manager, "residency.completed", "residency", residency.id)



RESIDENCIES_PER_PAGE = 50


@dataclass(frozen=True)
class ResidencyPage:
    items: list[Residency]
    next_after: str | None  # keyset token "YYYY-MM-DD.id" of the last row, when there is more


def residency_page(*, search: str = "", slot_id: int | None = None, state: str = "", after: str | None = None,
                   per_page: int = RESIDENCIES_PER_PAGE) -> ResidencyPage:
    """Residencies by start date, a keyset page at a time; searched by company, filtered by slot
    and state. A malformed ``after`` starts from the beginning."""
    query = (select(Residency).join(Application, Application.id == Residency.application_id)
             .options(selectinload(Residency.application), selectinload(Residency.slot)))
    if search:
        query = query.where(func.lower(Application.company_name).contains(search.lower(), autoescape=True))
    if slot_id is not None:
        query = query.where(Residency.slot_id == slot_id)
    if state in RESIDENCY_STATES:
        query = query.where(Residency.state == state)
    position = _keyset(after)
    if position is not None:
        query = query.where(tuple_(Residency.starts_on, Residency.id) > tuple_(*position))
    rows = list(db.session.scalars(query.order_by(Residency.starts_on, Residency.id).limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    return ResidencyPage(rows, f"{rows[-1].starts_on.isoformat()}.{rows[-1].id}" if more else None)


def _keyset(token: str | None) -> tuple[dt.date, int] | None:
    day, _, number = (token or "").partition(".")
    try:
        return dt.date.fromisoformat(day), int(number)
    except ValueError:
        return None
