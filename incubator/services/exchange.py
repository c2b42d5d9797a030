"""The exchange recorded: directions set when applying and placing, and the yearly balance."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Integer, case, cast, extract, func, select

from incubator.domain.exchange import RECEIVED, SENT, exchange_direction
from incubator.extensions import db
from incubator.models import Application, Programme, Residency, Slot


@dataclass(frozen=True)
class ExchangeYear:
    """One year of the exchange, by the year stays started: startups and months each way."""

    year: int
    sent: int
    sent_months: int
    received: int
    received_months: int

    @property
    def balance(self) -> int:
        """Startups sent minus startups received: positive when Norway sent more."""
        return self.sent - self.received


def _direction_into(programme: Programme, company_country: str | None) -> str | None:
    return exchange_direction(company_country, programme.exchange_for_country, programme.host_site.country)


def application_direction(application: Application) -> str | None:
    """The direction of an application: that of its first choice (set when it is submitted)."""
    if not application.preferences:
        return None
    return _direction_into(application.preferences[0].programme, application.country)


def residency_direction(application: Application, slot: Slot) -> str | None:
    """The direction of a stay: that of the programme whose slot the startup took."""
    return _direction_into(slot.programme, application.country)


def _months(starts_on: object, ends_on: object) -> object:
    """Whole months of ``[starts_on, ends_on)`` in SQL, as domain.exchange.residency_months."""
    def part(name: str, column: object) -> object:
        return cast(extract(name, column), Integer)

    return ((part("year", ends_on) - part("year", starts_on)) * 12 + part("month", ends_on)
            - part("month", starts_on) + case((part("day", ends_on) > 1, 1), else_=0))


def exchange_balance(programme_ids: Collection[int] | None = None) -> list[ExchangeYear]:
    """Per year (of the stays' start), the startups sent (NO-SE) and received (SE-NO) and their
    months of residency, aggregated in the database; oldest year first. ``programme_ids``
    limits it to stays in those programmes' slots (None: all). Scoped staff see their share."""
    months = _months(Residency.starts_on, Residency.ends_on)
    year = cast(extract("year", Residency.starts_on), Integer).label("year")

    def count(direction: str) -> object:
        return func.coalesce(func.sum(case((Residency.exchange_direction == direction, 1), else_=0)), 0)

    def total_months(direction: str) -> object:
        return func.coalesce(func.sum(case((Residency.exchange_direction == direction, months), else_=0)), 0)

    query = (select(year, count(SENT), total_months(SENT), count(RECEIVED), total_months(RECEIVED))
             .where(Residency.exchange_direction.in_((SENT, RECEIVED)))
             .group_by(year).order_by(year))
    if programme_ids is not None:
        query = query.join(Slot, Slot.id == Residency.slot_id).where(Slot.programme_id.in_(sorted(programme_ids)))
    return [ExchangeYear(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))
            for row in db.session.execute(query)]
