"""Programmes, their host sites, intake calls with their rubric, and residency slots."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from incubator.database import utcnow
from incubator.domain.calls import CALL_STATES
from incubator.extensions import db

if TYPE_CHECKING:
    from incubator.models.questions import CallQuestion


class Site(db.Model):
    """A physical place that hosts residents, e.g. OCC Innovation Park in Oslo."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    organisation: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Oslo")


class Partner(db.Model):
    """The organisation that runs programmes, e.g. OCC or AstraZeneca BioVentureHub.

    A table rather than a text field so that staff can later be scoped to a partner.
    """

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class Programme(db.Model):
    """A residency programme, e.g. "OCC Incubator"; data, so managers can add more."""

    __tablename__ = "programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    host_site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    # Nullable only so programmes made before partners existed stay valid; forms require it.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    summary: Mapped[str] = mapped_column(Text, default="")
    # What residents get, e.g. ["office", "lab", "industrial expertise"].
    offers: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Set when the programme is the exchange's place for companies registered in this country
    # (ISO alpha-2), e.g. BioVentureHub Gothenburg for NO: their stays count in the exchange.
    exchange_for_country: Mapped[str | None] = mapped_column(String(2))

    host_site: Mapped[Site] = relationship()
    partner: Mapped[Partner | None] = relationship()


# A call's lifecycle, in order. Calls made before the lifecycle existed are published.
CALL_STATE_VALUES = ", ".join(f"'{value}'" for value in CALL_STATES)


# The texts of a call a manager may give in other languages than the main one.
TRANSLATED_CALL_TEXTS = ("title", "description", "eligibility_summary")
# The languages besides the main (English) one that a call's texts may be given in.
CALL_TEXT_LOCALES = ("nb", "sv")


def translated_call_text(main: str, translations: dict[str, dict[str, str]] | None, name: str,
                         locale: str | None) -> str:
    """``name``'s text in ``locale`` from a call's translations, else its ``main`` text; for
    code that read the columns rather than a Call (the reminder sweep)."""
    if name not in TRANSLATED_CALL_TEXTS:
        raise ValueError(f"{name} is not a translated call text")
    return (translations or {}).get(locale or "", {}).get(name, "") or main


class Call(db.Model):
    """An intake round of one or more programmes."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("closes_at > opens_at", name="closes_after_opening"),
        CheckConstraint("reviewers_per_application >= 1", name="reviewers_positive"),
        CheckConstraint("bidding_opens IS NULL OR bidding_closes IS NULL OR bidding_closes > bidding_opens",
                        name="bidding_closes_after_opening"),
        CheckConstraint(f"state IN ({CALL_STATE_VALUES})", name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), default="published", server_default="published")
    description: Mapped[str] = mapped_column(Text, default="")
    eligibility_summary: Mapped[str] = mapped_column(Text, default="")
    # The manager's own versions of the texts above in other languages, {"nb": {"title": ...}};
    # a text not given there falls back to the main one (see text()). Replaced whole, never
    # changed in place, so the plain JSON type notices every change.
    translations: Mapped[dict[str, dict[str, str]]] = mapped_column(JSON, default=dict,
                                                                  server_default=text("'{}'"))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Oslo")
    opens_at: Mapped[dt.datetime]
    closes_at: Mapped[dt.datetime]
    review_deadline: Mapped[dt.datetime | None]
    decision_date: Mapped[dt.date | None] = mapped_column(Date)
    reviewers_per_application: Mapped[int] = mapped_column(Integer, default=3)
    # A spread of weighted scores (standard deviation) above this flags an application on the
    # ranking board, so the committee discusses it rather than averaging disagreement away.
    disagreement_threshold: Mapped[Decimal] = mapped_column(Numeric(4, 2), default=Decimal("1.00"))
    # Pool reviewers mark applications eager / willing / not willing / conflict in this window,
    # before the assignment is run; both empty means no bidding.
    bidding_opens: Mapped[dt.datetime | None]
    bidding_closes: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Moves whenever something a residency match depends on changes (models.match_inputs).
    match_inputs_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moves whenever something the call's insights figures depend on changes (models.insight_inputs).
    insights_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Moves whenever something the ranking board shows changes, other than what it reads with
    # the call itself (models.insight_inputs): the board's rendered pages are kept per version.
    board_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    programmes: Mapped[list[CallProgramme]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="CallProgramme.position"
    )
    criteria: Mapped[list[Criterion]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="Criterion.position"
    )

    questions: Mapped[list[CallQuestion]] = relationship(
        back_populates="call", cascade="all, delete-orphan", order_by="[CallQuestion.position, CallQuestion.id]"
    )

    def text(self, name: str, locale: str | None) -> str:
        """The call's title, description or eligibility summary in the reader's language, or
        the main text when the manager gave none in that language."""
        return translated_call_text(getattr(self, name), self.translations, name, locale)

    def is_open(self, now: dt.datetime) -> bool:
        return self.state == "published" and self.opens_at <= now < self.closes_at

    def is_public(self, now: dt.datetime) -> bool:
        """Applicants and the public see a call once it is published and its opening day came."""
        return self.state != "draft" and self.opens_at <= now

    def has_opened(self, now: dt.datetime) -> bool:
        """From here on, applicants may have started work the call's edits must not invalidate."""
        return self.is_public(now)

    def bidding_is_open(self, now: dt.datetime) -> bool:
        return (self.bidding_opens is not None and self.bidding_closes is not None
                and self.bidding_opens <= now < self.bidding_closes)


class CallProgramme(db.Model):
    """A programme offered by a call, with its eligibility rule as data."""

    __tablename__ = "call_programmes"
    __table_args__ = (UniqueConstraint("call_id", "programme_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # ISO country codes of where an applicant company must be registered; empty = anywhere.
    eligible_countries: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligibility_note: Mapped[str] = mapped_column(Text, default="")

    call: Mapped[Call] = relationship(back_populates="programmes")
    programme: Mapped[Programme] = relationship()


class Criterion(db.Model):
    """One weighted line of a call's rubric."""

    __tablename__ = "criteria"
    __table_args__ = (
        UniqueConstraint("call_id", "position"),
        CheckConstraint("weight > 0", name="weight_positive"),
        CheckConstraint("scale_max > scale_min", name="scale_ordered"),
        CheckConstraint("step > 0", name="step_positive"),
        CheckConstraint(
            "threshold IS NULL OR (threshold >= scale_min AND threshold <= scale_max)",
            name="threshold_in_scale",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    weight: Mapped[Decimal] = mapped_column(Numeric(6, 3))
    scale_min: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(0))
    scale_max: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal(5))
    step: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0.5"))
    # Descriptor per whole level, keyed by the level as text: {"0": "Fails", ..., "5": "Excellent"}.
    descriptors: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    threshold: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))

    call: Mapped[Call] = relationship(back_populates="criteria")


SPACE_TYPES = ("office_desk", "lab_bench", "office_lab")
SPACE_TYPE_VALUES = ", ".join(f"'{value}'" for value in SPACE_TYPES)


class Slot(db.Model):
    """Residency capacity: so many places of one space type at one site for a period."""

    __tablename__ = "slots"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        CheckConstraint("ends_on > starts_on", name="ends_after_start"),
        CheckConstraint(f"space_type IN ({SPACE_TYPE_VALUES})", name="space_type_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="RESTRICT"))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"))
    label: Mapped[str] = mapped_column(String(120))
    space_type: Mapped[str] = mapped_column(String(20))
    capacity: Mapped[int] = mapped_column(Integer)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date] = mapped_column(Date)

    programme: Mapped[Programme] = relationship()
    site: Mapped[Site] = relationship()
