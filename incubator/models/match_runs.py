"""A stored run of the residency match: who computed it, when, from what inputs, and its result.

Computing the match for a large call takes seconds, so it is an explicit action; the preview
page reads the stored result a page at a time. ``inputs_version`` is the call's
``match_inputs_version`` when the run read its inputs (decisions, rankings, slots, offers,
residencies; ``models.match_inputs``); once the call's counter has moved on, the run is stale
and cannot be confirmed (``services.match_runs``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models.programmes import Call
from incubator.models.users import User

# current: the newest run for its call and inputs; stale: its inputs changed (or a newer run
# replaced it); confirmed: its placements became offers.
MATCH_RUN_STATES = ("current", "stale", "confirmed")


class MatchRun(db.Model):
    __tablename__ = "match_runs"
    __table_args__ = (
        CheckConstraint("state IN ('current', 'stale', 'confirmed')", name="state_known"),
        CheckConstraint("placed + unmatched = participants", name="counts_add_up"),
        Index("ix_match_runs_call_created", "call_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    include_waitlisted: Mapped[bool] = mapped_column(Boolean, default=False)
    inputs_version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(12), default="current")
    participants: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(Integer)
    placed: Mapped[int] = mapped_column(Integer)
    unmatched: Mapped[int] = mapped_column(Integer)
    adjusted: Mapped[int] = mapped_column(Integer, default=0)  # placements changed by hand since computing
    seconds: Mapped[float]  # time to load, solve and store

    call: Mapped[Call] = relationship()
    created_by: Mapped[User | None] = relationship()


class MatchPlacement(db.Model):
    """One participant of a run: the slot it is placed in, or the reason it has none."""

    __tablename__ = "match_placements"
    __table_args__ = (
        CheckConstraint("(slot_id IS NULL) <> (reason IS NULL)", name="placed_or_reason"),
        Index("ix_match_placements_run_slot", "run_id", "slot_id"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("match_runs.id", ondelete="CASCADE"), primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"),
                                                primary_key=True)
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(String(24))  # domain.residency_matching reason code
    rank: Mapped[int | None] = mapped_column(Integer)  # position in the call's ranking when computed
    adjusted: Mapped[bool] = mapped_column(Boolean, default=False)
