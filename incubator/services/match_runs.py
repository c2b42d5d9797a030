"""The match of accepted startups to residency slots: who would go where, and why not.

Built from the released accepted (and, if asked, waitlisted) applications without an offer and
the call's slots with the places residencies and outstanding offers already take; solved by
``domain.residency_matching``. Turning a match into offers is ``services.offers``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.domain.applications import ApplicationState
from incubator.domain.memory import garbage_collection_paused
from incubator.domain.residency_matching import Candidate, Period
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Call,
    MatchPlacement,
    MatchRun,
    Offer,
    ProgrammePreference,
    Residency,
    Slot,
    User,
)
from incubator.models.residencies import LIVE_OFFER_STATES
from incubator.services import ServiceError, month_year
from incubator.services.audit import record_event
from incubator.services.slots import slot_spec, taken_periods

# Applications that declined or let an offer lapse are not offered another place automatically.
FINISHED_OFFER_STATES = ("declined", "expired")


# ---------------------------------------------------------------------------- the match


def _ranking_positions(call: Call) -> dict[int, int]:
    """Position of each ranked application in the call's ranking (1 = best).

    The ranking board's order (``services.ranking.ranking_for_call``: mean weighted score of
    submitted reviews, ties by earlier submission); applications without a score get none and
    are ranked after all others, by submission time, in ``domain.residency_matching``.
    """
    from incubator.services.ranking import ranking_positions  # the board's module, kept out of import time

    return ranking_positions(call)


def _participants_query(call: Call, include_waitlisted: bool) -> Select[tuple[int]]:
    """Ids of the released accepted (and, if asked, waitlisted) applications with no live or
    refused offer and no residency yet."""
    states = [ApplicationState.ACCEPTED.value]
    if include_waitlisted:
        states.append(ApplicationState.WAITLISTED.value)
    has_offer = select(Offer.id).where(
        Offer.application_id == Application.id,
        Offer.state.in_((*LIVE_OFFER_STATES, *FINISHED_OFFER_STATES))).exists()
    has_residency = select(Residency.id).where(Residency.application_id == Application.id).exists()
    return select(Application.id).where(
        Application.call_id == call.id, Application.state.in_(states),
        Application.decision_released_at.is_not(None), ~has_offer, ~has_residency)


def _candidates(call: Call, include_waitlisted: bool, ranks: Mapping[int, int]) -> list[Candidate]:
    """The participants as the domain needs them: two column queries, no model objects (a
    large intake has tens of thousands; offers are made for a few, loaded then)."""
    participants = _participants_query(call, include_waitlisted)
    preferences: dict[int, list[int]] = {}
    for application_id, programme_id in db.session.execute(
            select(ProgrammePreference.application_id, ProgrammePreference.programme_id)
            .where(ProgrammePreference.application_id.in_(participants))
            .order_by(ProgrammePreference.application_id, ProgrammePreference.rank)):
        preferences.setdefault(application_id, []).append(programme_id)
    rows = db.session.execute(
        select(Application.id, Application.space_type, Application.desired_start, Application.desired_length_months,
               Application.submitted_at)
        .where(Application.id.in_(participants)).order_by(Application.id))
    return [Candidate(id=str(application_id), programme_ids=tuple(preferences.get(application_id, ())),
                      space_type=space_type, desired_start=start, length_months=length, rank=ranks.get(application_id),
                      submitted_at=submitted_at)
            for application_id, space_type, start, length, submitted_at in rows]


class Participants(Mapping[int, Application]):
    """The participants by id; an application is loaded only when asked for (to make its offer)."""

    def __init__(self, ids: Iterable[int]) -> None:
        self._ids = dict.fromkeys(ids)

    def __getitem__(self, application_id: int) -> Application:
        if application_id not in self._ids:
            raise KeyError(application_id)
        application = db.session.get(Application, application_id)
        assert application is not None
        return application

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, application_id: object) -> bool:
        return application_id in self._ids


def unreleased_count(call: Call) -> int:
    """Accepted or waitlisted applications whose decision the applicants have not been told."""
    return db.session.scalar(select(func.count()).select_from(Application).where(
        Application.call_id == call.id,
        Application.state.in_((ApplicationState.ACCEPTED.value, ApplicationState.WAITLISTED.value)),
        Application.decision_released_at.is_(None))) or 0


def call_slots(call: Call, only: Sequence[int] | None = None) -> list[Slot]:
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
    applications: Mapping[int, Application]
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


def build_preview(call: Call, include_waitlisted: bool, only_slots: Sequence[int] | None = None) -> MatchPreview:
    slots = {s.id: s for s in call_slots(call, only_slots)}
    ranks = _ranking_positions(call)
    taken = taken_periods(list(slots), include_offers=True)
    candidates = _candidates(call, include_waitlisted, ranks)
    applications = Participants(int(candidate.id) for candidate in candidates)
    built = rm.build_instance(candidates, [slot_spec(s, taken[s.id]) for s in slots.values()])
    return MatchPreview(call=call, include_waitlisted=include_waitlisted, built=built, applications=applications,
                        slots=slots, placements={}, unmatched={}, ranks=ranks)


def match_preview(call: Call, *, include_waitlisted: bool = False) -> MatchPreview:
    """Who would go where if offers were made now, and why the others would get nothing."""
    preview = build_preview(call, include_waitlisted)
    outcome = rm.solve(preview.built)
    preview.placements = {int(a): int(s) for a, s in outcome.placements.items()}
    preview.unmatched = {int(a): reason for a, reason in outcome.unmatched.items()}
    preview.unreleased = unreleased_count(call)
    return preview


def adjusted_preview(call: Call, placements: Mapping[int, int], *, include_waitlisted: bool = False) -> MatchPreview:
    """The preview with a manager's hand-made placements, checked: ``preview.check`` names the
    pairs that make it unstable and what would be refused on confirming."""
    preview = build_preview(call, include_waitlisted)
    unknown = [a for a in placements if a not in preview.applications]
    if unknown:
        raise ServiceError(_("Application %(id)s cannot be placed: it is not (or no longer) waiting for an offer in "
                             "this call. Reload the match.", id=unknown[0]))
    foreign = [s for s in placements.values() if s not in preview.slots]
    if foreign:
        raise ServiceError(_("Slot %(slot)s is not a slot of this call's programmes.", slot=foreign[0]))
    as_text = {str(a): str(s) for a, s in placements.items()}
    preview.placements = dict(placements)
    preview.unmatched = {int(a): r for a, r in rm.explain_unmatched(preview.built, as_text).items()}
    preview.check = rm.check_placements(preview.built, as_text)
    preview.unreleased = unreleased_count(call)
    return preview


# ---------------------------------------------------------------------------- stored runs

MATCH_PAGE_SIZE = 50


def inputs_version(call: Call) -> int:
    """The call's count of changes to what a match depends on (``models.match_inputs``), read
    from the database: another transaction may have moved it since ``call`` was loaded."""
    return db.session.scalar(select(Call.match_inputs_version).where(Call.id == call.id)) or 0


@dataclass(frozen=True)
class _Solved:
    participants: list[int]  # application ids, ascending
    slots: int
    placements: dict[int, int]  # application id -> slot id
    unmatched: dict[int, str]  # application id -> reason code
    ranks: dict[int, int]


def _solve(call: Call, include_waitlisted: bool) -> _Solved:
    """The match of the call now, as ids: ``match_preview`` without the solver's instance.

    ``domain.residency_matching.match`` gives the same placements as solving the built
    instance, in one pass over the acceptable lists (millions of pairs at 100,000
    applications), so nothing here is per pair but the domain's inner loop.
    """
    slots = call_slots(call)
    ranks = _ranking_positions(call)
    taken = taken_periods([slot.id for slot in slots], include_offers=True)
    with garbage_collection_paused():  # tens of thousands of candidates, millions of list entries
        candidates = _candidates(call, include_waitlisted, ranks)
        outcome = rm.match(candidates, [slot_spec(slot, taken[slot.id]) for slot in slots])
    return _Solved(participants=sorted(int(candidate.id) for candidate in candidates), slots=len(slots),
                   placements={int(a): int(s) for a, s in outcome.placements.items()},
                   unmatched={int(a): reason for a, reason in outcome.unmatched.items()}, ranks=ranks)


def compute_run(manager: User, call: Call, now: dt.datetime, *, include_waitlisted: bool = False) -> MatchRun:
    """Solve the match now and store the result; older current runs of the call become stale."""
    if not manager.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers run the match."))
    started = time.perf_counter()
    version = inputs_version(call)  # before reading any input: a change from now on makes the run stale
    solved = _solve(call, include_waitlisted)
    db.session.execute(update(MatchRun).where(MatchRun.call_id == call.id, MatchRun.state == "current")
                       .values(state="stale").execution_options(synchronize_session=False))
    placed = len(solved.placements)
    run = MatchRun(call_id=call.id, created_by_id=manager.id, created_at=now, include_waitlisted=include_waitlisted,
                   inputs_version=version, state="current", participants=len(solved.participants),
                   slots=solved.slots, placed=placed, unmatched=len(solved.participants) - placed, adjusted=0,
                   seconds=0.0)
    db.session.add(run)
    db.session.flush()
    _store_placements([(run.id, application_id, solved.placements.get(application_id),
                        solved.unmatched.get(application_id), solved.ranks.get(application_id))
                       for application_id in solved.participants])
    run.seconds = round(time.perf_counter() - started, 3)
    db.session.flush()
    record_event(manager, "match.computed", "call", call.id, run_id=run.id, placed=run.placed,
                 unmatched=run.unmatched, include_waitlisted=include_waitlisted)
    return run


PLACEMENT_COLUMNS = ("run_id", "application_id", "slot_id", "reason", "rank")


def _store_placements(rows: Sequence[tuple[int, int, int | None, str | None, int | None]]) -> None:
    """Insert a run's placements (``PLACEMENT_COLUMNS``, ``adjusted`` false) in the session's
    transaction: COPY on PostgreSQL (tens of thousands of rows in a fraction of a second, where
    the ORM's bulk insert sent one statement per row), one Core executemany elsewhere."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        driver = connection.connection.driver_connection
        columns = ", ".join((*PLACEMENT_COLUMNS, "adjusted"))
        with driver.cursor() as cursor, cursor.copy(
                f"COPY {MatchPlacement.__tablename__} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, False))
        return
    if rows:
        connection.execute(insert(MatchPlacement.__table__),
                           [{**dict(zip(PLACEMENT_COLUMNS, row, strict=True)), "adjusted": False} for row in rows])


def latest_run(call: Call, *, include_waitlisted: bool = False) -> MatchRun | None:
    return db.session.scalar(
        select(MatchRun).where(MatchRun.call_id == call.id, MatchRun.include_waitlisted == include_waitlisted)
        .order_by(MatchRun.created_at.desc(), MatchRun.id.desc()).limit(1))


def is_stale(run: MatchRun) -> bool:
    """Stale when replaced, or when any input changed since it was computed."""
    if run.state != "current":
        return run.state == "stale"
    return inputs_version(run.call) != run.inputs_version


@dataclass(frozen=True)
class RunRow:
    application_id: int
    company_name: str | None
    state: str
    space_type: str | None
    desired_start: dt.date | None
    length_months: int | None
    slot_id: int | None
    slot_label: str | None
    reason: str | None
    rank: int | None
    adjusted: bool


@dataclass(frozen=True)
class RunPage:
    rows: list[RunRow]
    next_after: int | None  # keyset: the next page starts after this application id


def run_page(run: MatchRun, *, after: int | None = None, search: str = "", only: str = "",
             per_page: int = MATCH_PAGE_SIZE) -> RunPage:
    """One page of a stored run, by application id (keyset), optionally searched by company
    name and filtered to the placed or the unplaced."""
    query = (select(MatchPlacement.application_id, Application.company_name, Application.state,
                    Application.space_type, Application.desired_start, Application.desired_length_months,
                    MatchPlacement.slot_id, Slot.label, MatchPlacement.reason, MatchPlacement.rank,
                    MatchPlacement.adjusted)
             .join(Application, Application.id == MatchPlacement.application_id)
             .outerjoin(Slot, Slot.id == MatchPlacement.slot_id)
             .where(MatchPlacement.run_id == run.id))
    if search:
        query = query.where(func.lower(Application.company_name).contains(search.lower(), autoescape=True))
    if only == "placed":
        query = query.where(MatchPlacement.slot_id.is_not(None))
    elif only == "unplaced":
        query = query.where(MatchPlacement.slot_id.is_(None))
    if after is not None:
        query = query.where(MatchPlacement.application_id > after)
    rows = [RunRow(*row) for row in db.session.execute(query.order_by(MatchPlacement.application_id)
                                                       .limit(per_page + 1))]
    more = len(rows) > per_page
    rows = rows[:per_page]
    return RunPage(rows=rows, next_after=rows[-1].application_id if more else None)


def adjust_placement(manager: User, run: MatchRun, application_id: int, slot: Slot | None) -> None:
    """Move one startup of a stored run to another slot (or to no place), re-checking only what
    changed: that the stay fits the slot's period and the slot keeps within capacity in every
    month of it, counting residencies, outstanding offers and the run's other placements there."""
    if not manager.has_role(Role.MANAGER):
        raise ServiceError(_("Only programme managers adjust the match."))
    if run.state != "current":
        raise ServiceError(_("This match is no longer current; compute it again before adjusting."))
    placement = db.session.get(MatchPlacement, (run.id, application_id))
    if placement is None:
        raise ServiceError(_("Application %(id)s is not part of this match.", id=application_id), field="application_id")
    application = db.session.get(Application, application_id)
    assert application is not None
    if slot is not None:
        _check_fits(run, application, slot)
    if slot is None:
        placement.slot_id, placement.reason = None, OUTRANKED_BY_HAND
    else:
        placement.slot_id, placement.reason = slot.id, None
    if not placement.adjusted:
        run.adjusted += 1
    placement.adjusted = True
    run.placed = db.session.scalar(select(func.count()).select_from(MatchPlacement).where(
        MatchPlacement.run_id == run.id, MatchPlacement.slot_id.is_not(None), MatchPlacement.application_id
        != application_id)) + (1 if slot is not None else 0)
    run.unmatched = run.participants - run.placed
    db.session.flush()
    record_event(manager, "match.adjusted", "call", run.call_id, run_id=run.id, application_id=application_id,
                 slot_id=slot.id if slot else None)


OUTRANKED_BY_HAND = "by_hand"  # unplaced by a manager's adjustment


def _check_fits(run: MatchRun, application: Application, slot: Slot) -> None:
    programme_ids = {offered.programme_id for offered in run.call.programmes}
    if slot.programme_id not in programme_ids:
        raise ServiceError(_("%(slot)s is not a slot of this call's programmes.", slot=slot.label), field="slot")
    candidate = Candidate(id=str(application.id), programme_ids=(), space_type=application.space_type,
                          desired_start=application.desired_start, length_months=application.desired_length_months)
    period = candidate.period
    spec = slot_spec(slot, taken_periods([slot.id], include_offers=True)[slot.id])
    if period is None or not spec.covers(period):
        raise ServiceError(_("The stay of %(company)s does not fit in the period of %(slot)s.",
                             company=application.company_name or application.id, slot=slot.label), field="slot")
    others = db.session.execute(
        select(Application.desired_start, Application.desired_length_months)
        .join(MatchPlacement, MatchPlacement.application_id == Application.id)
        .where(MatchPlacement.run_id == run.id, MatchPlacement.slot_id == slot.id,
               MatchPlacement.application_id != application.id))
    periods = [p for p in (Candidate(id="", programme_ids=(), space_type=None, desired_start=start,
                                     length_months=length).period for start, length in others) if p is not None]
    months = rm.months_in(*period)
    placed = rm.monthly_occupancy(periods, months)
    for month in months:
        wanted = spec.occupied.get(month, 0) + placed[month] + 1
        if wanted > slot.capacity:
            raise ServiceError(_("%(slot)s would hold %(wanted)d startups in %(month)s but has %(places)d places.",
                                 slot=slot.label, wanted=wanted, month=month_year(month), places=slot.capacity),
                               field="slot")


def run_placements(run: MatchRun) -> dict[int, int]:
    """application id -> slot id, for confirming."""
    rows = db.session.execute(select(MatchPlacement.application_id, MatchPlacement.slot_id).where(
        MatchPlacement.run_id == run.id, MatchPlacement.slot_id.is_not(None)))
    return {application_id: slot_id for application_id, slot_id in rows}
