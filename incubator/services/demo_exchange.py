"""Demo data for the exchange report and the partners' own view (issue 12 items 3 and 4).

An intake two years back whose residents have left: two Swedish startups stayed at the OCC
Incubator in Oslo, one Norwegian startup at BioVentureHub in Gothenburg, so the exchange report
shows a balance over two years with the previous intake's BioVentureHub resident.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import (
    Application,
    Call,
    CallProgramme,
    Offer,
    Programme,
    ProgrammePreference,
    Residency,
    Site,
    Slot,
    User,
)
from incubator.services.exchange import application_direction, residency_direction

OSLO = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True)
class ExchangeStartup:
    company: str
    founder: str
    country: str
    org_number: str
    to_bioventurehub: bool
    months: int


EXCHANGE_HISTORY = (
    ExchangeStartup("Göteborg Onco AB", "Sara Lund", "SE", "5560000001", False, 12),
    ExchangeStartup("Lund Imaging AB", "Johan Berg", "SE", "5560000019", False, 6),
    ExchangeStartup("Bergen Cell AS", "Trond Bergen", "NO", "923000003", True, 12),
)


def _first_of_month(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=OSLO).astimezone(dt.UTC)


def mark_exchange(occ: Programme, exchange: Programme) -> None:
    """OCC in Oslo hosts the exchange's Swedish companies, BioVentureHub its Norwegian ones."""
    occ.exchange_for_country, exchange.exchange_for_country = "SE", "NO"


def seed_exchange_history(now: dt.datetime, occ: Programme, exchange: Programme, occ_park: Site, bvh: Site,
                          manager: User, password_hash: str) -> None:
    start = _first_of_month(now.astimezone(OSLO).date(), -30)
    call = Call(
        slug=f"residency-{start.year - 1}-exchange", title=f"Residency intake {start.year - 1} (exchange)",
        description="An earlier intake; its residents have completed their stays.",
        eligibility_summary="OCC Incubator: open to all. BioVentureHub exchange: companies registered in Norway.",
        timezone="Europe/Oslo", opens_at=_noon(start - dt.timedelta(days=120)),
        closes_at=_noon(start - dt.timedelta(days=90)), decision_date=start - dt.timedelta(days=45),
        reviewers_per_application=2, state="archived",
    )
    call.programmes = [
        CallProgramme(programme=occ, position=0, eligible_countries=[], eligibility_note="Open to all"),
        CallProgramme(programme=exchange, position=1, eligible_countries=["NO"],
                      eligibility_note="For companies registered in Norway"),
    ]
    end = _first_of_month(start, 12)
    slots = {False: Slot(programme=occ, site=occ_park, label="OCC office desks (earlier)", space_type="office_desk",
                         capacity=2, starts_on=start, ends_on=end),
             True: Slot(programme=exchange, site=bvh, label="BioVentureHub office desks (earlier)",
                        space_type="office_desk", capacity=1, starts_on=start, ends_on=end)}
    db.session.add_all([call, *slots.values()])
    db.session.flush()
    for startup in EXCHANGE_HISTORY:
        _completed_stay(call, startup, slots[startup.to_bioventurehub], start, manager, password_hash)


def _completed_stay(call: Call, startup: ExchangeStartup, slot: Slot, start: dt.date, manager: User,
                    password_hash: str) -> None:
    founder = User(email=f"founder@{startup.company.split()[0].lower().replace('ö', 'o')}.demo.example",
                   name=startup.founder, role=Role.APPLICANT.value, password_hash=password_hash)
    decided_at = _noon(call.decision_date)  # type: ignore[arg-type]
    application = Application(
        call=call, applicant=founder, state="accepted", company_name=startup.company, country=startup.country,
        org_number=startup.org_number, founded_year=2020, employees=5, focus_area="oncology_therapeutics",
        development_stage="preclinical", residency_purposes=["office"], space_type="office_desk",
        desired_start=start, desired_length_months=startup.months, consent=True,
        created_at=call.opens_at, updated_at=call.opens_at, submitted_at=call.opens_at + dt.timedelta(days=3),
        decided_at=decided_at, decided_by_id=manager.id, decision_released_at=decided_at,
    )
    application.preferences = [ProgrammePreference(programme=slot.programme, rank=1)]
    db.session.add_all([founder, application])
    db.session.flush()
    application.exchange_direction = application_direction(application)
    end = _first_of_month(start, startup.months)
    offered = decided_at + dt.timedelta(days=2)
    offer = Offer(application_id=application.id, slot=slot, state="accepted", starts_on=start, ends_on=end,
                  response_deadline=offered + dt.timedelta(days=14), created_at=offered, created_by_id=manager.id,
                  offered_at=offered, responded_at=offered + dt.timedelta(days=1))
    db.session.add(offer)
    db.session.flush()
    db.session.add(Residency(application_id=application.id, offer_id=offer.id, slot=slot, state="completed",
                             starts_on=start, ends_on=end, created_at=offer.responded_at, updated_at=offered,
                             exchange_direction=residency_direction(application, slot)))
