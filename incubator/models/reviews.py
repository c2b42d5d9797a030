"""Reviewers, who reviews what, their scores, and the conflicts that keep them apart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models.applications import Application
from incubator.models.programmes import Criterion
from incubator.models.users import User


class ReviewerProfile(db.Model):
    """What a reviewer knows and how much they can take on; drives automatic assignment."""

    __tablename__ = "reviewer_profiles"
    __table_args__ = (
        CheckConstraint("max_load >= 0", name="max_load_non_negative"),
        CheckConstraint("min_load IS NULL OR (min_load >= 0 AND min_load <= max_load)", name="min_load_in_range"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    focus_areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    expertise: Mapped[str] = mapped_column(Text, default="")
    max_load: Mapped[int] = mapped_column(Integer, default=10)  # applications per call
    min_load: Mapped[int | None] = mapped_column(Integer)
    reminders_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


ASSIGNMENT_SOURCES = ("manual", "auto")


class Assignment(db.Model):
    """A reviewer asked to review one application by a due date."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id"),
        CheckConstraint("source IN ('manual', 'auto')", name="source_known"),
        Index("ix_assignments_reviewer", "reviewer_id", "application_id"),
        # The next open assignment to fall overdue, read from now on (services.ranking.next_overdue_moment).
        Index("ix_assignments_due_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(10), default="manual")
    affinity: Mapped[float | None] = mapped_column(Float)
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime | None]

    application: Mapped[Application] = relationship()
    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])


REVIEW_STATES = ("draft", "submitted")


class Review(db.Model):
    """One reviewer's assessment of one application: a score per criterion and comments."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("application_id", "reviewer_id"),
        CheckConstraint("state IN ('draft', 'submitted')", name="state_known"),
        CheckConstraint("state = 'draft' OR submitted_at IS NOT NULL", name="submitted_has_time"),
        CheckConstraint("confidence IS NULL OR (confidence >= 1 AND confidence <= 5)", name="confidence_in_range"),
        Index("ix_reviews_reviewer", "reviewer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(10), default="draft")
    comment_committee: Mapped[str] = mapped_column(Text, default="")
    comment_applicant: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[int | None] = mapped_column(Integer)
    # The weighted score, recomputed by domain.scoring whenever scores change; stored so that
    # ranking 100,000 applications is one aggregate query, not a Python loop over scores.
    weighted_score: Mapped[Decimal | None] = mapped_column(Numeric(8, 4))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]

    application: Mapped[Application] = relationship()
    reviewer: Mapped[User] = relationship()
    scores: Mapped[list[Score]] = relationship(back_populates="review", cascade="all, delete-orphan")


class Score(db.Model):
    __tablename__ = "scores"

    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), primary_key=True)
    criterion_id: Mapped[int] = mapped_column(ForeignKey("criteria.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[Decimal] = mapped_column(Numeric(5, 2))

    review: Mapped[Review] = relationship(back_populates="scores")
    criterion: Mapped[Criterion] = relationship()


CONFLICT_SOURCES = ("declared", "manager", "detected")


class Conflict(db.Model):
    """A reviewer who must not see an application, or any application of a company."""

    __tablename__ = "conflicts"
    __table_args__ = (
        CheckConstraint("source IN ('declared', 'manager', 'detected')", name="source_known"),
        CheckConstraint("application_id IS NOT NULL OR org_number IS NOT NULL", name="names_a_target"),
        UniqueConstraint("reviewer_id", "application_id"),
        UniqueConstraint("reviewer_id", "country", "org_number"),
        Index("ix_conflicts_application", "application_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    application_id: Mapped[int | None] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    # A whole company, by where it is registered and its organisation number.
    country: Mapped[str | None] = mapped_column(String(2))
    org_number: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    application: Mapped[Application | None] = relationship()
