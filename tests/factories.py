"""Small factories for calls and applications, written straight to the database (committed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
from typing import Any

from sqlalchemy import select

from incubator.database import utcnow
from incubator.domain.applications import DECIDED_STATES, ApplicationState
from incubator.extensions import db
from incubator.models import (
    Application,
    Attachment,
    Call,
    CallProgramme,
    Programme,
    ProgrammePreference,
    Site,
    User,
)
from incubator.storage import file_storage

TINY_PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"

_numbers = itertools.count(1)


def _site(name: str, organisation: str, city: str, country: str, timezone: str) -> Site:
    site = db.session.scalar(select(Site).where(Site.name == name))
    if site is None:
        site = Site(name=name, organisation=organisation, city=city, country=country, timezone=timezone)
        db.session.add(site)
    return site


def _programme(slug: str, name: str, site: Site) -> Programme:
    programme = db.session.scalar(select(Programme).where(Programme.slug == slug))
    if programme is None:
        programme = Programme(slug=slug, name=name, host_site=site, summary="", offers=["office", "lab"])
        db.session.add(programme)
    return programme


def make_call(now: dt.datetime | None = None, **overrides: Any) -> Call:
    """A call open now (opened a day ago, closes in 30 days) offering both programmes."""
    now = now or utcnow()
    number = next(_numbers)
    occ = _programme("occ-incubator", "OCC Incubator",
                     _site("Oslo Cancer Cluster Innovation Park", "Oslo Cancer Cluster", "Oslo", "NO", "Europe/Oslo"))
    exchange = _programme("bioventurehub-exchange", "BioVentureHub exchange",
                          _site("AstraZeneca BioVentureHub", "AstraZeneca", "Gothenburg", "SE", "Europe/Stockholm"))
    values: dict[str, Any] = {
        "slug": f"test-call-{number}",
        "title": f"Residency intake {number}",
        "timezone": "Europe/Oslo",
        "opens_at": now - dt.timedelta(days=1),
        "closes_at": now + dt.timedelta(days=30),
    }
    values.update(overrides)
    call = Call(**values)
    call.programmes = [
        CallProgramme(programme=occ, position=0, eligible_countries=[], eligibility_note="Open to all"),
        CallProgramme(programme=exchange, position=1, eligible_countries=["NO"],
                      eligibility_note="For companies registered in Norway"),
    ]
    db.session.add(call)
    db.session.commit()
    return call


def store_pdf(content: bytes = TINY_PDF) -> str:
    return file_storage().save(io.BytesIO(content))


def make_attachment(application: Application, kind: str = "pitch_deck", filename: str = "deck.pdf",
                    content: bytes = TINY_PDF) -> Attachment:
    attachment = Attachment(application=application, kind=kind, original_filename=filename,
                            storage_key=store_pdf(content), size_bytes=len(content),
                            sha256=hashlib.sha256(content).hexdigest())
    db.session.add(attachment)
    db.session.commit()
    return attachment


def make_application(applicant: User, call: Call, state: str = "draft", complete: bool = False,
                     **fields: Any) -> Application:
    """An application in any state; ``complete`` fills every required answer and a pitch deck."""
    now = utcnow()
    values: dict[str, Any] = {"call": call, "applicant": applicant, "state": state,
                              "created_at": now, "updated_at": now}
    if complete:
        values.update(
            company_name="TumourTech AS", country="NO", org_number=f"92360{applicant.id:04d}",
            founded_year=2021, employees=7, website="https://tumourtech.no",
            focus_area="radiopharmaceuticals", development_stage="preclinical", funding_raised_eur=1_500_000,
            team="Two founders from the Radium Hospital.", project_summary="A targeted alpha therapy.",
            unmet_need="Metastatic prostate cancer.", residency_purposes=["lab"], space_type="office_lab",
            space_needs="A radiochemistry bench.", desired_start=dt.date(now.year + 1, 1, 1),
            desired_length_months=12, consent=True,
        )
    state_enum = ApplicationState(state)
    if state_enum is not ApplicationState.DRAFT:
        values["submitted_at"] = now
    if state_enum is ApplicationState.WITHDRAWN:
        values["withdrawn_at"] = now
    if state_enum in DECIDED_STATES:
        values["decided_at"] = now
    values.update(fields)
    application = Application(**values)
    db.session.add(application)
    if complete:
        application.preferences = [ProgrammePreference(programme_id=call.programmes[0].programme_id, rank=1)]
        db.session.flush()
        make_attachment(application)
    db.session.commit()
    return application
