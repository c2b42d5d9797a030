"""Stored figures of a call's insights dashboard, so that the page reads a few rows instead of
aggregating every score (1.8 million at 100,000 applications) on each visit.

One row per call and programme scope (``"*"`` for every programme, else the sorted programme
ids, e.g. ``"1,3"``: partner staff see figures of their own programmes only). ``inputs_version``
is the call's ``insights_version`` read before the figures were computed
(``models.insight_inputs``); once the counter has moved, or once ``valid_until`` (the next due
date of an assignment still open when the figures were computed, after which it counts as
overdue) has passed, the row is stale and ``services.insights`` computes it again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from incubator.database import utcnow
from incubator.extensions import db

ALL_PROGRAMMES = "*"


class CallInsightSnapshot(db.Model):
    __tablename__ = "call_insight_snapshots"
    __table_args__ = (UniqueConstraint("call_id", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text)
    inputs_version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    valid_until: Mapped[dt.datetime | None]
    # The service's figures as plain JSON (numbers as text where they are decimals).
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
