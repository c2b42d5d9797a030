"""Applications for residency, their ranked programme preferences and their attachments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.domain.applications import ApplicationState
from incubator.extensions import db
from incubator.models.organisations import ApplicationMember, JoinRequest, MemberInvitation, Organisation
from incubator.models.programmes import Call, Programme
from incubator.models.users import User

STATE_VALUES = ", ".join(f"'{state.value}'" for state in ApplicationState)


class Application(db.Model):
    __tablename__ = "applications"
    __table_args__ = (
        # One application per applicant per call, and per company (by organisation number).
        UniqueConstraint("call_id", "applicant_id"),
        UniqueConstraint("call_id", "country", "org_number"),
        CheckConstraint(f"state IN ({STATE_VALUES})", name="state_known"),
        CheckConstraint("state = 'draft' OR state = 'withdrawn' OR submitted_at IS NOT NULL",
                        name="submitted_has_time"),
        CheckConstraint("state <> 'withdrawn' OR withdrawn_at IS NOT NULL", name="withdrawn_has_time"),
        CheckConstraint("decision_released_at IS NULL OR state IN ('accepted', 'waitlisted', 'rejected')",
                        name="released_only_when_decided"),
        CheckConstraint("employees IS NULL OR employees >= 0", name="employees_non_negative"),
        CheckConstraint("desired_length_months IS NULL OR desired_length_months > 0", name="length_positive"),
        Index("ix_applications_call_state", "call_id", "state"),
        # The manager boards list a call's applications by company name (NULL as ''), then id, in
        # keyset pages: this index serves that order, so a page reads its rows and stops instead
        # of sorting the whole call (services/assignment_board.py ``_name_key``; same expression).
        Index("ix_applications_call_name", "call_id", text("coalesce(company_name, '')"), "id"),
        # The board's "missing reviewers" filter: the few applications under their reviewer count.
        Index("ix_applications_call_assignment_count", "call_id", "assignment_count"),
        # Reviewer loads join a page of reviewers' assignments to their applications' call and
        # state: read from this index alone, not a heap row per assignment (nor a scan of all).
        Index("ix_applications_id_call_state", "id", "call_id", "state"),
        # The ranking board sorted by company: a page reads the call's names in this order (either
        # direction) and stops, instead of sorting the call (services/ranking.py ``_Board``).
        Index("ix_applications_call_company_lower", "call_id", text("lower(company_name)")),
        # The decided applications not yet released (the decisions page's banner, the release and
        # the match preview): counted from this index alone, (call, state, NULL release) entries
        # only, instead of a heap row per decided application of the call.
        Index("ix_applications_call_state_released", "call_id", "state", "decision_released_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="RESTRICT"))
    applicant_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=ApplicationState.DRAFT.value)

    company_name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    org_number: Mapped[str | None] = mapped_column(String(40))
    # The company as an organisation, set once a valid registration number is saved; the
    # country and number above stay on the row for conflicts and exports.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"),
                                                        index=True)
    founded_year: Mapped[int | None] = mapped_column(Integer)
    employees: Mapped[int | None] = mapped_column(Integer)
    website: Mapped[str | None] = mapped_column(String(300))

    focus_area: Mapped[str | None] = mapped_column(String(40))
    development_stage: Mapped[str | None] = mapped_column(String(40))
    funding_raised_eur: Mapped[int | None] = mapped_column(Integer)

    team: Mapped[str | None] = mapped_column(Text)
    project_summary: Mapped[str | None] = mapped_column(Text)
    unmet_need: Mapped[str | None] = mapped_column(Text)

    residency_purposes: Mapped[list[str]] = mapped_column(JSON, default=list)
    space_type: Mapped[str | None] = mapped_column(String(20))
    space_needs: Mapped[str | None] = mapped_column(Text)
    desired_start: Mapped[dt.date | None] = mapped_column(Date)
    desired_length_months: Mapped[int | None] = mapped_column(Integer)
    # How many assignments the application has. Kept by database triggers on ``assignments``
    # (migration 7c1d2e9f4a60), so every way of adding or removing one counts, bulk inserts
    # and cascades included; read it in SQL only (an object loaded earlier may hold an old value).
    assignment_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    # "NO-SE" when submitted by a Norwegian company whose first choice is the exchange
    # programme for Norway in Sweden; null outside the exchange (see domain/exchange.py).
    exchange_direction: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision_message: Mapped[str | None] = mapped_column(Text)
    # Whether the decision email quotes the reviewers' comments meant for the applicant.
    share_reviewer_comments: Mapped[bool] = mapped_column(Boolean, default=False)
    # Until released, a decision is the committee's working state: reversible and invisible to
    # the applicant. Releasing sends the decision emails and makes it final.
    decision_released_at: Mapped[dt.datetime | None]
    # Set when the applicant's account is erased: the row stays for statistics and the
    # decision audit trail, without the personal data.
    anonymised_at: Mapped[dt.datetime | None]

    call: Mapped[Call] = relationship()
    applicant: Mapped[User] = relationship(foreign_keys=[applicant_id])
    organisation: Mapped[Organisation | None] = relationship()
    members: Mapped[list[ApplicationMember]] = relationship(cascade="all, delete-orphan",
                                                            order_by="ApplicationMember.id")
    # Only for deleting a draft on SQLite, which does not cascade foreign keys.
    invitations: Mapped[list[MemberInvitation]] = relationship(cascade="all, delete-orphan")
    join_requests: Mapped[list[JoinRequest]] = relationship(cascade="all, delete-orphan")
    preferences: Mapped[list[ProgrammePreference]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="ProgrammePreference.rank"
    )
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="application", cascade="all, delete-orphan", order_by="Attachment.id"
    )

    @property
    def state_enum(self) -> ApplicationState:
        return ApplicationState(self.state)


class ProgrammePreference(db.Model):
    """The applicant's ranking of the call's programmes (1 = first choice)."""

    __tablename__ = "programme_preferences"
    __table_args__ = (
        UniqueConstraint("application_id", "rank"),
        UniqueConstraint("application_id", "programme_id"),
        CheckConstraint("rank >= 1", name="rank_positive"),
        # A programme's applications in id order, from the index alone: the ranking board
        # filtered to one programme counts them without reading the table.
        Index("ix_programme_preferences_programme_application", "programme_id", "application_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="RESTRICT"))
    rank: Mapped[int] = mapped_column(Integer)

    application: Mapped[Application] = relationship(back_populates="preferences")
    programme: Mapped[Programme] = relationship()


ATTACHMENT_KINDS = ("pitch_deck", "other")
ATTACHMENT_KIND_VALUES = ", ".join(f"'{kind}'" for kind in ATTACHMENT_KINDS)


class Attachment(db.Model):
    """A PDF stored outside the web root under a random key; only metadata lives here."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(f"kind IN ({ATTACHMENT_KIND_VALUES})", name="kind_known"),
        CheckConstraint("size_bytes > 0", name="size_positive"),
        # At most one pitch deck per application, whatever races the web layer loses.
        Index("uq_attachments_one_pitch_deck", "application_id", unique=True,
              sqlite_where=text("kind = 'pitch_deck'"), postgresql_where=text("kind = 'pitch_deck'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    original_filename: Mapped[str] = mapped_column(String(255))
    storage_key: Mapped[str] = mapped_column(String(100), unique=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship(back_populates="attachments")
