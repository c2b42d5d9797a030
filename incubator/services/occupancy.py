"""The occupancy grid: months across, slots down, who sits where and when places come up."""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.extensions import db
from incubator.models import (
    Application,
    Offer,
    Residency,
    Slot,
)
from incubator.models.residencies import OPEN_OFFER_STATES
from incubator.services.paging import PageNumbers

# ---------------------------------------------------------------------------- occupancy


@dataclass(frozen=True)
class Cell:
    kind: str  # resident | offered | free | closed (outside the slot's period)
    span: int = 1
    label: str = ""
    residency_id: int | None = None
    offer_id: int | None = None


# A slot of many places (a shared-desk floor) must not multiply the page: rows are drawn for at
# most this many lanes of residents and offers; the rest are counted, and the free places are one
# band, not one row per empty place.
MAX_LANES_SHOWN = 20
SLOTS_PER_PAGE = 25


@dataclass
class SlotTimeline:
    slot: Slot
    lanes: list[list[Cell]]  # one row per lane of residents/offers (first fit), cells spanning the months
    open: list[bool]  # per month: inside the slot's period
    occupied: list[int]  # residencies per month
    offered: list[int]  # outstanding offers per month
    free: list[int]
    hidden_lanes: int = 0  # lanes beyond MAX_LANES_SHOWN, counted but not drawn

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
class Occupancy(PageNumbers):
    months: list[dt.date]
    slots: list[SlotTimeline]
    vacancies: list[Vacancy] = field(default_factory=list)
    page: int = 1
    pages: int = 1
    total_slots: int = 0

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


def _window(start_month: dt.date, months: int) -> list[dt.date]:
    if months < 1:
        raise ValueError("show at least one month")
    return [rm.add_months(rm.month_start(start_month), n) for n in range(months)]


def _slots_query(window: list[dt.date], programme_id: int | None, site_id: int | None) -> Select[tuple[Slot]]:
    window_end = rm.add_months(window[-1], 1)
    query = select(Slot).where(Slot.starts_on < window_end, Slot.ends_on > window[0])
    if programme_id is not None:
        query = query.where(Slot.programme_id == programme_id)
    if site_id is not None:
        query = query.where(Slot.site_id == site_id)
    return query


def _timelines(slots: Sequence[Slot], window: list[dt.date]) -> list[SlotTimeline]:
    stays = _stays([s.id for s in slots], window[0], rm.add_months(window[-1], 1))
    return [_timeline(slot, window, stays[slot.id]) for slot in slots]


SLOT_ORDER = (Slot.programme_id, Slot.site_id, Slot.label, Slot.id)


def occupancy(*, start_month: dt.date, months: int, programme_id: int | None = None,
              site_id: int | None = None, page: int = 1, per_page: int = SLOTS_PER_PAGE) -> Occupancy:
    """Months across, slots down (one page of slots): who sits where, what is offered, free
    places, utilisation (residents ÷ capacity, per month) and the months in which places become free."""
    window = _window(start_month, months)
    query = _slots_query(window, programme_id, site_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(math.ceil(total / per_page), 1)
    page = min(max(page, 1), pages)
    slots = list(db.session.scalars(query.options(selectinload(Slot.programme), selectinload(Slot.site))
                                    .order_by(*SLOT_ORDER).offset((page - 1) * per_page).limit(per_page)))
    timelines = _timelines(slots, window)
    return Occupancy(months=window, slots=timelines, vacancies=_vacancies(timelines, window), page=page,
                     pages=pages, total_slots=total)


def occupancy_pages(*, start_month: dt.date, months: int, programme_id: int | None = None,
                    site_id: int | None = None, per_page: int = 200) -> Iterator[Occupancy]:
    """Every slot, a page at a time (keyset by the slot order), for the CSV export to stream."""
    window = _window(start_month, months)
    query = _slots_query(window, programme_id, site_id).options(selectinload(Slot.programme),
                                                                selectinload(Slot.site))
    after: tuple[int, int, str, int] | None = None
    while True:
        chunk = query if after is None else query.where(tuple_(*SLOT_ORDER) > tuple_(*after))
        slots = list(db.session.scalars(chunk.order_by(*SLOT_ORDER).limit(per_page)))
        if not slots:
            return
        yield Occupancy(months=window, slots=_timelines(slots, window))
        last = slots[-1]
        after = (last.programme_id, last.site_id, last.label, last.id)


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
    free_from: list[tuple[int, int]] = []  # (end of the lane's last stay, lane number), earliest first
    # Residents first so they take the top rows; then a stay joins the lane free soonest (a heap,
    # so thousands of residents in one shared-desk slot cost n log n, not n x lanes).
    for stay in sorted(stays, key=lambda s: (s.offer_id is not None, s.start, s.end)):
        if free_from and free_from[0][0] <= stay.start:
            _, number = heapq.heappop(free_from)
            lanes_of_stays[number].append(stay)
        else:
            number = len(lanes_of_stays)
            lanes_of_stays.append([stay])
        heapq.heappush(free_from, (stay.end, number))
    occupied, offered = [0] * n, [0] * n
    for stay in stays:
        for i in range(max(stay.start, 0), min(stay.end, n)):
            if stay.residency_id is not None:
                occupied[i] += 1
            else:
                offered[i] += 1
    free = [max(slot.capacity - occupied[i] - offered[i], 0) if is_open[i] else 0 for i in range(n)]
    lanes = [_lane_cells(lane, is_open) for lane in lanes_of_stays[:MAX_LANES_SHOWN]]
    return SlotTimeline(slot=slot, lanes=lanes, open=is_open, occupied=occupied, offered=offered, free=free,
                        hidden_lanes=max(len(lanes_of_stays) - MAX_LANES_SHOWN, 0))


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


def occupancy_csv(pages: Iterable[Occupancy], labels: Mapping[str, str] | None = None) -> Iterator[str]:
    """One row per slot and month, a page of slots at a time (so a response can stream it);
    utilisation is residents ÷ capacity, empty when closed. ``labels`` lets the web layer pass
    headers in the reader's language; a column without one keeps its CSV_HEADER name."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([(labels or {}).get(column, column) for column in CSV_HEADER])
    for data in pages:
        for timeline in data.slots:
            slot = timeline.slot
            utilisation = timeline.utilisation  # a property computing every month: once per slot
            for i, month in enumerate(data.months):
                if not timeline.open[i]:
                    continue
                share = utilisation[i]
                writer.writerow([_safe(slot.programme.name), _safe(slot.site.name), _safe(slot.label),
                                 slot.space_type, f"{month:%Y-%m}", slot.capacity, timeline.occupied[i],
                                 timeline.offered[i], timeline.free[i], "" if share is None else f"{share:.2f}"])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()


def _safe(text: str) -> str:
    """Defuse spreadsheet formulas in names managers typed (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
