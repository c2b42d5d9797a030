"""Offers of a residency place, and the residencies that accepted offers become.

Periods are half-open date ranges ``[starts_on, ends_on)``, like ``Slot``: ``ends_on`` is the
first day the place is free again. Offers and residencies start on the first of a month and run
whole months; ending early may land mid-month (the place is then counted as taken for that
month, since the timeline and capacity work in months).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
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
from incubator.domain import follow_up
from incubator.extensions import db
from incubator.models.applications import Application
from incubator.models.programmes import Slot
from incubator.models.users import User

# proposed: saved but not sent (reserved for a saved draft match; confirming sends at once).
# offered: sent, waiting for the startup's answer until response_deadline.
OFFER_STATES = ("proposed", "offered", "accepted", "declined", "expired", "withdrawn")
OPEN_OFFER_STATES = ("proposed", "offered")
# An application has at most one offer in these states at a time (see the partial index).
LIVE_OFFER_STATES = ("proposed", "offered", "accepted")
ANSWERED_OFFER_STATES = ("accepted", "declined", "expired", "withdrawn")

RESIDENCY_STATES = ("active", "completed", "ended_early")

SUPPORT_PROGRAMMES = tuple(follow_up.SUPPORT_PROGRAMMES)
SUPPORT_STATES = tuple(follow_up.SUPPORT_STATES)
CURRENCIES = follow_up.CURRENCIES
MAX_AMOUNT = follow_up.MAX_AMOUNT


def _values(states: tuple[str, ...]) -> str:
    return ", ".join(f"'{state}'" for state in states)


class Offer(db.Model):
    """A place in a slot for a period, offered to an accepted (or waitlisted) application."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(OFFER_STATES)})", name="state_known"),
        CheckConstraint("ends_on > starts_on", name="ends_after_start"),
        CheckConstraint("state = 'proposed' OR offered_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint(f"state NOT IN ({_values(ANSWERED_OFFER_STATES)}) OR responded_at IS NOT NULL",
                        name="answered_has_time"),
        # One live offer per application, whatever races the services lose.
        Index("uq_offers_one_live_per_application", "application_id", unique=True,
              sqlite_where=text(f"state IN ({_values(LIVE_OFFER_STATES)})"),
              postgresql_where=text(f"state IN ({_values(LIVE_OFFER_STATES)})")),
        Index("ix_offers_slot_state", "slot_id", "state"),
        Index("ix_offers_state_deadline", "state", "response_deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="RESTRICT"), index=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(12), default="offered")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    response_deadline: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    offered_at: Mapped[dt.datetime | None]
    responded_at: Mapped[dt.datetime | None]
    # Set when the offer filled a place another startup declined or let expire.
    refill_of_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"))

    application: Mapped[Application] = relationship()
    slot: Mapped[Slot] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def last_day(self) -> dt.date:
        """The last day of the stay (``ends_on`` is the first day after it)."""
        return self.ends_on - dt.timedelta(days=1)


class Residency(db.Model):
    """A startup placed in a slot for a period: what the occupancy timeline shows.

    An extension moves ``ends_on`` and keeps the first agreed end in ``original_ends_on``
    rather than being a state of its own: an extended residency is still active, and every
    occupancy query stays "state-free" (each residency occupies ``[starts_on, ends_on)``).
    """

    __tablename__ = "residencies"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(RESIDENCY_STATES)})", name="state_known"),
        CheckConstraint("ends_on > starts_on", name="ends_after_start"),
        CheckConstraint("state <> 'ended_early' OR ended_on IS NOT NULL", name="ended_early_has_date"),
        Index("ix_residencies_slot_period", "slot_id", "starts_on", "ends_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # One residency per application; a second stay is a new application in a later call.
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="RESTRICT"), unique=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id", ondelete="SET NULL"), unique=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("slots.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(12), default="active")
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)
    original_ends_on: Mapped[dt.date | None] = mapped_column(Date)  # set by the first extension
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    # The exchange direction of the stay ("NO-SE"), from the slot's programme; null outside it.
    exchange_direction: Mapped[str | None] = mapped_column(String(5))
    # Residents become members of Oslo Cancer Cluster; the date they joined, when they have.
    occ_member_since: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship()
    slot: Mapped[Slot] = relationship()
    offer: Mapped[Offer | None] = relationship()

    @property
    def last_day(self) -> dt.date:
        """The last day of the stay (``ends_on`` is the first day after it)."""
        return self.ends_on - dt.timedelta(days=1)


class ResidencySupport(db.Model):
    """Support a resident applied for during the stay: Innovation Norway or another programme."""

    __tablename__ = "residency_supports"
    __table_args__ = (
        CheckConstraint(f"programme IN ({_values(SUPPORT_PROGRAMMES)})", name="programme_known"),
        CheckConstraint(f"status IN ({_values(SUPPORT_STATES)})", name="status_known"),
        CheckConstraint(f"currency IN ({_values(CURRENCIES)})", name="currency_known"),
        CheckConstraint("programme <> 'other' OR programme_name IS NOT NULL", name="other_is_named"),
        CheckConstraint(f"amount IS NULL OR (amount >= 0 AND amount <= {MAX_AMOUNT})", name="amount_in_range"),
        CheckConstraint("applied_on IS NULL OR decided_on IS NULL OR decided_on >= applied_on",
                        name="decided_after_applied"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    residency_id: Mapped[int] = mapped_column(ForeignKey("residencies.id", ondelete="CASCADE"), index=True)
    programme: Mapped[str] = mapped_column(String(20))
    programme_name: Mapped[str | None] = mapped_column(String(120))  # for "other"
    status: Mapped[str] = mapped_column(String(10), default="applied")
    amount: Mapped[int | None] = mapped_column(BigInteger)  # whole units of ``currency``
    currency: Mapped[str] = mapped_column(String(3), default="NOK")
    applied_on: Mapped[dt.date | None] = mapped_column(Date)
    decided_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ResidencyCheckIn(db.Model):
    """A quarterly check-in, recorded; the schedule itself is derived (``domain.check_ins``)."""

    __tablename__ = "residency_check_ins"
    __table_args__ = (
        UniqueConstraint("residency_id", "due_on"),
        Index("ix_residency_check_ins_due_on", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    residency_id: Mapped[int] = mapped_column(ForeignKey("residencies.id", ondelete="CASCADE"))
    due_on: Mapped[dt.date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    milestones: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[dt.datetime]
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    done_by: Mapped[User | None] = relationship()


class ResidencyReport(db.Model):
    """The end-of-residency report: what the stay led to."""

    __tablename__ = "residency_reports"
    __table_args__ = (
        CheckConstraint("jobs_created IS NULL OR jobs_created >= 0", name="jobs_not_negative"),
        CheckConstraint(f"funding_raised IS NULL OR (funding_raised >= 0 AND funding_raised <= {MAX_AMOUNT})",
                        name="funding_in_range"),
        CheckConstraint(f"funding_currency IN ({_values(CURRENCIES)})", name="currency_known"),
    )

    residency_id: Mapped[int] = mapped_column(ForeignKey("residencies.id", ondelete="CASCADE"), primary_key=True)
    outcomes: Mapped[str] = mapped_column(Text, default="")
    jobs_created: Mapped[int | None] = mapped_column(Integer)
    funding_raised: Mapped[int | None] = mapped_column(BigInteger)
    funding_currency: Mapped[str] = mapped_column(String(3), default="NOK")
    saved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
