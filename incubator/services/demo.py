"""Demo data for a first start: programmes, an open call with the default rubric, slots, and
one account per role. Seeding is idempotent: a second run changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.domain.rubric import DEFAULT_RUBRIC
from incubator.extensions import db
from incubator.models import (
    Call,
    CallProgramme,
    Criterion,
    Partner,
    Programme,
    ProgrammeScope,
    ReviewerProfile,
    Site,
    Slot,
    User,
)
from incubator.services.demo_exchange import mark_exchange
from incubator.services.demo_showcase import seed_showcase
from incubator.services.passwords import hash_password

DEMO_PASSWORD = "residency-demo-2026"
OSLO = ZoneInfo("Europe/Oslo")


@dataclass(frozen=True)
class DemoLogin:
    role: Role
    email: str
    password: str


DEMO_ACCOUNTS: tuple[tuple[Role, str, str, str | None], ...] = (
    (Role.APPLICANT, "founder@demo.example", "Ingrid Founder", None),
    (Role.REVIEWER, "reviewer@demo.example", "Rune Reviewer", "Oslo University Hospital"),
    (Role.MANAGER, "manager@demo.example", "Maria Manager", "Oslo Cancer Cluster"),
    (Role.ADMIN, "admin@demo.example", "Anders Admin", "Oslo Cancer Cluster"),
    # Limited to the BioVentureHub exchange programme: the partner's own view.
    (Role.MANAGER, "bvh-manager@demo.example", "Britt Hubmanager", "AstraZeneca BioVentureHub"),
    (Role.REVIEWER, "bvh-reviewer@demo.example", "Bo Hubreviewer", "AstraZeneca BioVentureHub"),
)
# The demo accounts limited to the exchange programme (the rest see every programme).
BIOVENTUREHUB_ACCOUNTS = ("bvh-manager@demo.example", "bvh-reviewer@demo.example")


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(role, email, DEMO_PASSWORD) for role, email, _, _ in DEMO_ACCOUNTS]


def is_seeded() -> bool:
    return db.session.scalar(select(Programme.id).where(Programme.slug == "occ-incubator")) is not None


def seed_demo_data(now: dt.datetime, *, showcase: bool = False) -> bool:
    """Create the demo data unless it is there already; True when something was created.

    ``showcase`` adds what makes every page show real data (``services.demo_showcase``):
    ``flask demo seed`` asks for it; tests that build their own scenario on the bare demo
    do not.
    """
    if is_seeded():
        return False
    occ_park, bvh = _sites()
    occ, exchange = _programmes(occ_park, bvh)
    mark_exchange(occ, exchange)
    call = _open_call(now, occ, exchange)
    _slots(now, occ, exchange, occ_park, bvh)
    password_hash = _accounts()
    _limit_to_bioventurehub(exchange)
    if showcase:
        seed_showcase(now, call, occ, exchange, occ_park, bvh, password_hash)
    db.session.flush()
    return True


def _sites() -> tuple[Site, Site]:
    occ_park = Site(
        name="Oslo Cancer Cluster Innovation Park",
        organisation="Oslo Cancer Cluster",
        city="Oslo",
        country="NO",
        timezone="Europe/Oslo",
    )
    bvh = Site(
        name="AstraZeneca BioVentureHub",
        organisation="AstraZeneca",
        city="Gothenburg",
        country="SE",
        timezone="Europe/Stockholm",
    )
    db.session.add_all([occ_park, bvh])
    return occ_park, bvh


def _programmes(occ_park: Site, bvh: Site) -> tuple[Programme, Programme]:
    occ = Programme(
        slug="occ-incubator",
        name="OCC Incubator",
        host_site=occ_park,
        partner=Partner(name="Oslo Cancer Cluster"),
        summary="Offices and shared or private labs next to the Radium Hospital, among 90+ cluster members.",
        offers=["office", "lab", "industrial expertise"],
    )
    exchange = Programme(
        slug="bioventurehub-exchange",
        name="BioVentureHub exchange",
        host_site=bvh,
        partner=Partner(name="AstraZeneca BioVentureHub"),
        summary="Office and lab space inside AstraZeneca's R&D site in Gothenburg, under the "
        "AstraZeneca / OCC / Oslo Science City agreement.",
        offers=["office", "lab", "industrial expertise", "international link"],
    )
    db.session.add_all([occ, exchange])
    return occ, exchange


def _at_noon_oslo(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=OSLO).astimezone(dt.UTC)


def _open_call(now: dt.datetime, occ: Programme, exchange: Programme) -> Call:
    today = now.astimezone(OSLO).date()
    closes = _at_noon_oslo(today + dt.timedelta(days=30))
    call = Call(
        slug=f"residency-{today.year}-{today.month:02d}",
        title=f"Residency intake {today:%B %Y}",
        description="Residency at the OCC Incubator in Oslo, or at AstraZeneca's BioVentureHub "
        "in Gothenburg through the exchange. Residents can apply to Innovation Norway for "
        "support during their stay.",
        eligibility_summary="OCC Incubator: startups in oncology from any country. "
        "BioVentureHub exchange: companies registered in Norway.",
        timezone="Europe/Oslo",
        opens_at=_at_noon_oslo(today - dt.timedelta(days=7)),
        closes_at=closes,
        review_deadline=closes + dt.timedelta(days=21),
        decision_date=(closes + dt.timedelta(days=35)).date(),
        reviewers_per_application=2,
    )
    call.programmes = [
        CallProgramme(programme=occ, position=0, eligible_countries=[], eligibility_note="Open to all"),
        CallProgramme(
            programme=exchange,
            position=1,
            eligible_countries=["NO"],
            eligibility_note="For companies registered in Norway",
        ),
    ]
    call.criteria = [
        Criterion(
            position=position,
            name=spec.name,
            description=spec.description,
            weight=spec.weight,
            scale_min=spec.scale_min,
            scale_max=spec.scale_max,
            step=spec.step,
            descriptors=dict(spec.descriptors),
            threshold=spec.threshold,
        )
        for position, spec in enumerate(DEFAULT_RUBRIC)
    ]
    db.session.add(call)
    return call


def _first_of_month_after(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    return dt.date(day.year + month_index // 12, month_index % 12 + 1, 1)


def _slots(now: dt.datetime, occ: Programme, exchange: Programme, occ_park: Site, bvh: Site) -> None:
    start = _first_of_month_after(now.date(), 3)
    year_end = _first_of_month_after(start, 12)
    half_year_end = _first_of_month_after(start, 6)
    db.session.add_all(
        [
            Slot(programme=occ, site=occ_park, label="OCC office desks", space_type="office_desk",
                 capacity=6, starts_on=start, ends_on=year_end),
            Slot(programme=occ, site=occ_park, label="OCC shared lab benches", space_type="lab_bench",
                 capacity=4, starts_on=start, ends_on=year_end),
            Slot(programme=occ, site=occ_park, label="OCC office + private lab", space_type="office_lab",
                 capacity=2, starts_on=start, ends_on=year_end),
            Slot(programme=exchange, site=bvh, label="BioVentureHub office + lab", space_type="office_lab",
                 capacity=2, starts_on=start, ends_on=half_year_end),
            Slot(programme=exchange, site=bvh, label="BioVentureHub office desks", space_type="office_desk",
                 capacity=2, starts_on=start, ends_on=year_end),
        ]
    )


def _limit_to_bioventurehub(exchange: Programme) -> None:
    db.session.flush()  # ids of the programme and the accounts
    for email in BIOVENTUREHUB_ACCOUNTS:
        user_id = db.session.scalar(select(User.id).where(User.email == email))
        db.session.add(ProgrammeScope(user_id=user_id, programme_id=exchange.id))


def _accounts() -> str:
    password_hash = hash_password(DEMO_PASSWORD)
    for role, email, name, affiliation in DEMO_ACCOUNTS:
        if db.session.scalar(select(User.id).where(User.email == email)) is None:
            user = User(email=email, name=name, role=role.value, password_hash=password_hash,
                        affiliation=affiliation)
            db.session.add(user)
            if role is Role.REVIEWER:
                db.session.add(ReviewerProfile(
                    user=user, focus_areas=["immuno_oncology", "oncology_therapeutics"], max_load=10,
                    expertise="Clinical oncology, cancer immunotherapy, early-phase trials, biomarkers."))
    return password_hash
