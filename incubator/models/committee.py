"""A call's reviewer pool, reviewers' bids, and the committee's discussion and notes.

The pool says who reviews for one call and how much (``min_load``/``max_load`` per call,
overriding the reviewer's profile). Bids are one row per (application, reviewer), like
HotCRP's review preferences, with four named levels. The discussion thread and the committee
note belong to one application each.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models.applications import Application
from incubator.models.users import User

BID_LEVELS = ("eager", "willing", "not_willing", "conflict")
BID_LEVEL_VALUES = ", ".join(f"'{level}'" for level in BID_LEVELS)


class CallReviewer(db.Model):
    """A reviewer in a call's pool, with the call's own bounds on their load."""

    __tablename__ = "call_reviewers"
    __table_args__ = (
        UniqueConstraint("call_id", "reviewer_id"),
        CheckConstraint("min_load >= 0", name="min_load_non_negative"),
        CheckConstraint("max_load >= min_load", name="max_load_at_least_min"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    min_load: Mapped[int] = mapped_column(Integer, default=0)
    max_load: Mapped[int] = mapped_column(Integer, default=10)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])


class Bid(db.Model):
    """How much a pool reviewer wants to review one application (set during bidding)."""

    __tablename__ = "bids"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id"),
        CheckConstraint(f"level IN ({BID_LEVEL_VALUES})", name="level_known"),
        Index("ix_bids_reviewer", "reviewer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(12))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CommitteeComment(db.Model):
    """One post in an application's discussion thread; seen by managers and its reviewers only."""

    __tablename__ = "committee_comments"
    __table_args__ = (Index("ix_committee_comments_application", "application_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship()


class CommitteeNote(db.Model):
    """The committee's decision rationale; only ``shared`` ever reaches the applicant, after release."""

    __tablename__ = "committee_notes"

    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), primary_key=True)
    internal: Mapped[str] = mapped_column(Text, default="")
    shared: Mapped[str] = mapped_column(Text, default="")
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship()
