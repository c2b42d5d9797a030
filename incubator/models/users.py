"""People who sign in: applicants, reviewers, programme managers and administrators."""

from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from incubator.database import utcnow
from incubator.domain.roles import Role, role_allows
from incubator.extensions import db

ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLE_VALUES})", name="role_known"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
        # The assignment board pages and suggests reviewers by name (NULL as '') then id among
        # tens of thousands of applicants: read in this order instead of sorted per request
        # (services/assignment_board.py ``_name_key``; same expression).
        Index("ix_users_role_name", "role", text("coalesce(name, '')"), "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20), default=Role.APPLICANT.value)
    # Null until an invited person chooses a password.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    affiliation: Mapped[str | None] = mapped_column(String(200))
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    password_changed_at: Mapped[dt.datetime | None]
    # Two-factor: the TOTP secret (base32), when it was enrolled, and the last accepted time
    # step, so a code cannot be replayed within its window.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    two_factor_enrolled_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # The language chosen with the switcher (en/nb/sv); null follows the browser. Emails to this
    # person are written in it, also from the scheduler.
    locale: Mapped[str | None] = mapped_column(String(8))

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of deactivated users
        return self.active

    @property
    def two_factor_enrolled(self) -> bool:
        return self.totp_secret is not None and self.two_factor_enrolled_at is not None

    def get_id(self) -> str:
        # Which sessions are still valid is kept server-side (UserSession), not in this id.
        return str(self.id)

    def has_role(self, needed: Role) -> bool:
        return role_allows(self.role_enum, needed)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"
