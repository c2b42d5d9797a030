"""Companies as organisations, and the people who work together on an application."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.domain.membership import MEMBER_ROLES, REQUEST_STATES
from incubator.extensions import db
from incubator.models.users import User

INVITED_ROLE_VALUES = ", ".join(f"'{role}'" for role in MEMBER_ROLES if role != "owner")
REQUEST_STATE_VALUES = ", ".join(f"'{state}'" for state in REQUEST_STATES)


class Organisation(db.Model):
    """A company by country and registration number (stored compact, validated per country)."""

    __tablename__ = "organisations"
    __table_args__ = (UniqueConstraint("country", "registration_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    country: Mapped[str] = mapped_column(String(2))
    registration_number: Mapped[str] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApplicationMember(db.Model):
    """The owner's colleagues on an application. The owner is ``Application.applicant_id`` (as
    before teams existed), so the rows here are editors and viewers only."""

    __tablename__ = "application_members"
    __table_args__ = (
        UniqueConstraint("application_id", "user_id"),
        CheckConstraint(f"role IN ({INVITED_ROLE_VALUES})", name="member_role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    # The owner allowed this member to answer offers and withdraw (the owner always may).
    may_respond: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class MemberInvitation(db.Model):
    """An email invitation to join an application; the link carries a token stored hashed."""

    __tablename__ = "member_invitations"
    __table_args__ = (CheckConstraint(f"role IN ({INVITED_ROLE_VALUES})", name="invited_role_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[str] = mapped_column(String(10))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    accepted_at: Mapped[dt.datetime | None]


class JoinRequest(db.Model):
    """A second founder asks to join the application of their organisation; the owner decides."""

    __tablename__ = "join_requests"
    __table_args__ = (
        UniqueConstraint("application_id", "user_id"),
        CheckConstraint(f"state IN ({REQUEST_STATE_VALUES})", name="request_state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship()
