"""The normalised ranking board's figures, stored per call as a snapshot.

Normalising (``domain.scoring.normalise_scores``) corrects each review by its reviewer's mean
and spread over the call and maps it back with the call's mean and spread, so one changed
review can move every normalised figure of the call: they cannot be kept current per
application as ``models.application_scores`` is. Instead ``services.ranking`` computes the
whole call at once when a page asks for it and the snapshot is stale, and stores one row per
application with a submitted review and its position in the call's normalised rank order; a page
in rank order is then a range of ``ix_normalised_scores_position``, however deep.

``NormalisedSnapshot.inputs_version`` is the call's ``insights_version``
(``models.insight_inputs``, moved in the flush that changes a submitted review, its scores,
an application's state or submission time, or the rubric's criteria: everything the figures
are computed from) read before the figures were computed. The snapshot row also serialises
recomputations: a request takes its lock first, so two requests finding the figures stale
at once compute them once, and the rows are replaced in the transaction that records the
new version, so a reader sees either the old snapshot with its old version or the new one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Double, ForeignKey, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from incubator.database import utcnow
from incubator.extensions import db


class NormalisedSnapshot(db.Model):
    __tablename__ = "normalised_snapshots"

    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    # -1 until computed: a fresh row (inserted to be locked) is never current.
    inputs_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class NormalisedScore(db.Model):
    __tablename__ = "normalised_scores"
    __table_args__ = (
        # The normalised board's rank order: page n is positions (n-1)·size+1 to n·size.
        Index("ix_normalised_scores_position", "call_id", "position"),
    )

    # No foreign keys: checking them cost more than writing the rows (2.3 s of 3.2 s for 100,000
    # rows on PostgreSQL), and nothing needs them. A row outlives its application or call only
    # until the next computation: deleting either moves the call's counter (or drops the
    # snapshot row, cascading from calls), and a missing or stale snapshot row means the call's
    # rows are deleted and written again before they are read; the board joins the applications,
    # so a deleted one never shows. The call first in the key: an application moved to another
    # call leaves a row behind in the old call's snapshot (stale by then) without colliding.
    call_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    application_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ranked: Mapped[bool] = mapped_column(Boolean)
    submitted_at: Mapped[dt.datetime | None]
    reviews: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float] = mapped_column(Double)
    negated_mean: Mapped[float] = mapped_column(Double)  # -mean, exactly
    median: Mapped[float] = mapped_column(Double)
    std: Mapped[float] = mapped_column(Double)
    minimum: Mapped[float] = mapped_column(Double)
    maximum: Mapped[float] = mapped_column(Double)
    # 1 = best of the call's ranked rows (domain.scoring.rank's order: normalised mean
    # descending, earlier submission, lower id); None when not ranked (withdrawn). Unscoped,
    # it is the rank; a scoped manager's ranks number their own rows in this order.
    position: Mapped[int | None] = mapped_column(Integer)
