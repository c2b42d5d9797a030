"""The match of accepted startups to residency slots: who would go where, and why not.

Built from the released accepted (and, if asked, waitlisted) applications without an offer and
the call's slots with the places residencies and outstanding offers already take; solved by
``domain.residency_matching``. Turning a match into offers is ``services.offers``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import selectinload

from incubator.domain import residency_matching as rm
from incubator.domain.applications import ApplicationState
from incubator.domain.residency_matching import Candidate, Period
from incubator.extensions import db
from incubator.models import (
    Application,
    Call,
    Offer,
    Residency,
    Review,
    Slot,
)
from incubator.models.residencies import LIVE_OFFER_STATES
from incubator.services import ServiceError
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


def build_preview(call: Call, include_waitlisted: bool, only_slots: Sequence[int] | None = None) -> MatchPreview:
    applications = {a.id: a for a in _participants(call, include_waitlisted)}
    slots = {s.id: s for s in call_slots(call, only_slots)}
    ranks = _ranking_positions(call)
    taken = taken_periods(list(slots), include_offers=True)
    candidates = [
        Candidate(id=str(a.id), programme_ids=tuple(p.programme_id for p in a.preferences), space_type=a.space_type,
                  desired_start=a.desired_start, length_months=a.desired_length_months, rank=ranks.get(a.id),
                  submitted_at=a.submitted_at)
        for a in applications.values()
    ]
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
