"""The part of the demo data that shows the product working, on the first ``make run``.

On top of the bare demo (programmes, an open call, slots, one account per role) it adds:

* five more reviewers with expertise across the focus areas, all six in the open call's pool
  (minimum 1, maximum 4 each) with bidding open, and five submitted applications in that
  call, so automatic assignment can give every application its two reviewers;
* a previous call, reviewed and decided with the decisions released: accepted startups took
  their offers and are residents now, in slots that run through today, so the ranking,
  committee, match and occupancy pages show real data.

Written straight to the tables (the demo is data, not a sequence of user actions), with the
same rules the services apply: weighted scores from ``domain.scoring``, states consistent with
every check constraint.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from stdnum.no import orgnr

from incubator.domain.roles import Role
from incubator.domain.rubric import DEFAULT_RUBRIC
from incubator.domain.scoring import weighted_score
from incubator.extensions import db
from incubator.models import (
    Application,
    Assignment,
    Call,
    CallProgramme,
    CallReviewer,
    CommitteeComment,
    CommitteeNote,
    Criterion,
    Offer,
    Programme,
    ProgrammePreference,
    Residency,
    Review,
    ReviewerProfile,
    Score,
    Site,
    Slot,
    User,
)
from incubator.services.demo_exchange import seed_exchange_history
from incubator.services.exchange import application_direction, residency_direction
from incubator.services.ranking import criterion_rules

OSLO = ZoneInfo("Europe/Oslo")

# (email, name, affiliation, focus areas, expertise)
EXTRA_REVIEWERS = (
    ("kari.reviewer@demo.example", "Kari Nordmann", "Norwegian Radium Hospital",
     ["radiopharmaceuticals", "oncology_therapeutics"],
     "Radiochemistry, targeted alpha therapy, radioligands, nuclear medicine, dosimetry."),
    ("lars.reviewer@demo.example", "Lars Berg", "Oslo Science City",
     ["diagnostics", "digital_health_ai"],
     "Liquid biopsy, circulating tumour DNA, machine learning on pathology images, IVDR."),
    ("eva.reviewer@demo.example", "Eva Lind", "AstraZeneca BioVentureHub",
     ["immuno_oncology", "oncology_therapeutics"],
     "T cell therapy, cancer vaccines, checkpoint inhibitors, translational immunology."),
    ("jonas.reviewer@demo.example", "Jonas Dahl", "Oslo Medtech",
     ["medtech", "diagnostics"],
     "Surgical devices, imaging hardware, CE marking, MDR, clinical evaluation."),
    ("sara.reviewer@demo.example", "Sara Holm", "Investinor",
     ["digital_health_ai", "oncology_therapeutics", "other"],
     "Venture investment in oncology, business models, health economics, reimbursement."),
)


@dataclass(frozen=True)
class DemoStartup:
    company: str
    founder: str
    focus_area: str
    stage: str
    space_type: str
    summary: str
    need: str


OPEN_CALL_STARTUPS = (
    DemoStartup("Nordic Alpha AS", "Per Alpha", "radiopharmaceuticals", "preclinical", "office_lab",
                "A thorium-227 conjugate that targets a prostate cancer antigen.",
                "Metastatic castration-resistant prostate cancer."),
    DemoStartup("CellSight AS", "Hanne Sight", "diagnostics", "prototype", "lab_bench",
                "Circulating tumour DNA test for early relapse in colorectal cancer.",
                "Relapse is found late by imaging."),
    DemoStartup("VaxOnco AS", "Tor Vax", "immuno_oncology", "preclinical", "office_lab",
                "A personalised neoantigen cancer vaccine that primes T cells.",
                "Most patients do not respond to checkpoint inhibitors."),
    DemoStartup("MarginScan AS", "Liv Margin", "medtech", "prototype", "office_desk",
                "A handheld probe that finds tumour margins during breast surgery.",
                "One in five breast operations must be repeated."),
    DemoStartup("PathMind AS", "Ola Path", "digital_health_ai", "market", "office_desk",
                "Machine learning that grades prostate biopsies from pathology images.",
                "Pathologists are scarce and grading varies."),
)

# (startup, decision, scores of the two reviewers on the six default criteria, shared note)
PREVIOUS_CALL_STARTUPS = (
    (DemoStartup("RadioTarget AS", "Nina Radio", "radiopharmaceuticals", "clinical_phase_1", "office_lab",
                 "Radioligand therapy for neuroendocrine tumours, in phase I.", "Few options after surgery."),
     "accepted", ((4.5, 4, 4.5, 4, 4, 4.5), (4, 4, 4, 4.5, 4, 4)),
     "The committee valued your clinical progress and the fit with the Radium Hospital."),
    (DemoStartup("ImmunoGate AS", "Erik Gate", "immuno_oncology", "preclinical", "lab_bench",
                 "A bispecific antibody that brings T cells to solid tumours.", "Solid tumours resist T cells."),
     "accepted", ((4, 4.5, 4, 3.5, 4, 4), (4.5, 4, 4, 4, 3.5, 4)),
     "A strong team and convincing preclinical data."),
    (DemoStartup("OncoDx AS", "Mari Dx", "diagnostics", "regulatory", "office_desk",
                 "A methylation test that tells aggressive from indolent prostate cancer.", "Overtreatment."),
     "accepted", ((3.5, 4, 4, 4, 3.5, 4), (4, 3.5, 3.5, 4, 4, 3.5)),
     "Welcome; the committee looks forward to your IVDR work in the park."),
    (DemoStartup("BioScalpel AS", "Jon Scalpel", "medtech", "prototype", "office_desk",
                 "A robotic biopsy needle guided by ultrasound.", "Biopsies miss small lesions."),
     "waitlisted", ((3.5, 3, 3.5, 3, 3.5, 3), (3, 3.5, 3, 3.5, 3, 3.5)),
     "A good project; places were limited in this round."),
    (DemoStartup("CareBot AS", "Siri Care", "digital_health_ai", "idea", "office_desk",
                 "A chatbot that follows up patients after chemotherapy.", "Side effects are reported late."),
     "rejected", ((2.5, 2, 2.5, 3, 2, 2.5), (2, 2.5, 2, 2.5, 2.5, 2)),
     "The committee would like to see clinical validation before a residency."),
    (DemoStartup("GenoFold AS", "Kim Fold", "oncology_therapeutics", "idea", "lab_bench",
                 "Protein folding models for new kinase inhibitors.", "Resistance to kinase inhibitors."),
     "rejected", ((3, 2.5, 2, 2.5, 3, 2), (2.5, 3, 2.5, 2, 2.5, 3)),
     "An interesting idea that is not yet far enough for the incubator."),
)


def seed_showcase(now: dt.datetime, open_call: Call, occ: Programme, exchange: Programme, occ_park: Site,
                  bvh: Site, password_hash: str) -> None:
    db.session.flush()  # ids of the open call and the demo accounts
    reviewers = _reviewers(password_hash)
    manager = db.session.scalar(select(User).where(User.email == "manager@demo.example"))
    _staff_open_call(now, open_call, reviewers, occ, password_hash)
    previous = _previous_call(now, occ, exchange)
    slots = _current_slots(now, occ, exchange, occ_park, bvh)
    _decided_applications(now, previous, reviewers, slots, manager, password_hash)
    seed_exchange_history(now, occ, exchange, occ_park, bvh, manager, password_hash)


def _reviewers(password_hash: str) -> list[User]:
    reviewers = [db.session.scalar(select(User).where(User.email == "reviewer@demo.example"))]
    for email, name, affiliation, areas, expertise in EXTRA_REVIEWERS:
        user = User(email=email, name=name, role=Role.REVIEWER.value, password_hash=password_hash,
                    affiliation=affiliation)
        db.session.add(user)
        db.session.add(ReviewerProfile(user=user, focus_areas=areas, expertise=expertise, max_load=6))
        reviewers.append(user)
    db.session.flush()
    return reviewers


def _founder(startup: DemoStartup, password_hash: str) -> User:
    slug = startup.company.split()[0].lower()
    user = User(email=f"founder@{slug}.demo.example", name=startup.founder, role=Role.APPLICANT.value,
                password_hash=password_hash)
    db.session.add(user)
    return user


def norwegian_org_number(number: int) -> str:
    """A valid organisasjonsnummer for the n-th demo company: the base ``9`` + n, then the
    check digit the register would give (a base whose mod-11 check would be 10 has none, so
    the next base is taken). Demo data passes the same validation as applicants' input."""
    base = 9_000_0000 + number
    while True:
        for check in range(10):
            if orgnr.is_valid(f"{base}{check}"):
                return f"{base}{check}"
        base += 10_000


def _application(call: Call, startup: DemoStartup, founder: User, programme: Programme, submitted_at: dt.datetime,
                 number: int, desired_start: dt.date) -> Application:
    application = Application(
        call=call, applicant=founder, state="submitted", company_name=startup.company, country="NO",
        org_number=norwegian_org_number(number), founded_year=2021, employees=4 + number % 5,
        website=f"https://{startup.company.split()[0].lower()}.example", focus_area=startup.focus_area,
        development_stage=startup.stage, funding_raised_eur=500_000 * (1 + number % 4),
        team="Founders from Oslo University Hospital and the University of Oslo.",
        project_summary=startup.summary, unmet_need=startup.need, residency_purposes=["office", "lab"],
        space_type=startup.space_type, space_needs="Room for the team of four.", desired_start=desired_start,
        desired_length_months=12, consent=True, created_at=submitted_at, updated_at=submitted_at,
        submitted_at=submitted_at,
    )
    application.preferences = [ProgrammePreference(programme=programme, rank=1)]
    db.session.add(application)
    return application


def _staff_open_call(now: dt.datetime, call: Call, reviewers: list[User], occ: Programme,
                     password_hash: str) -> None:
    call.bidding_opens = now - dt.timedelta(days=1)
    call.bidding_closes = call.closes_at + dt.timedelta(days=5)
    for reviewer in reviewers:
        db.session.add(CallReviewer(call_id=call.id, reviewer_id=reviewer.id, min_load=1, max_load=4, added_at=now))
    start = _first_of_month(now.date(), 4)
    for number, startup in enumerate(OPEN_CALL_STARTUPS, start=1):
        _application(call, startup, _founder(startup, password_hash), occ,
                     now - dt.timedelta(days=6 - number), number, start)


def _first_of_month(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    return dt.date(day.year + index // 12, index % 12 + 1, 1)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(12, 0), tzinfo=OSLO).astimezone(dt.UTC)


def _previous_call(now: dt.datetime, occ: Programme, exchange: Programme) -> Call:
    today = now.astimezone(OSLO).date()
    opens = today - dt.timedelta(days=400)
    closes = today - dt.timedelta(days=370)
    call = Call(
        slug=f"residency-{opens.year}-{opens.month:02d}", title=f"Residency intake {opens:%B %Y}",
        description="The previous intake, decided and with its residents in place.",
        eligibility_summary="OCC Incubator: open to all. BioVentureHub exchange: companies registered in Norway.",
        timezone="Europe/Oslo", opens_at=_noon(opens), closes_at=_noon(closes),
        review_deadline=_noon(closes + dt.timedelta(days=21)), decision_date=closes + dt.timedelta(days=35),
        reviewers_per_application=2, state="archived",  # decided, released, residents placed: done
    )
    call.programmes = [
        CallProgramme(programme=occ, position=0, eligible_countries=[], eligibility_note="Open to all"),
        CallProgramme(programme=exchange, position=1, eligible_countries=["NO"],
                      eligibility_note="For companies registered in Norway"),
    ]
    call.criteria = [
        Criterion(position=position, name=spec.name, description=spec.description, weight=spec.weight,
                  scale_min=spec.scale_min, scale_max=spec.scale_max, step=spec.step,
                  descriptors=dict(spec.descriptors), threshold=spec.threshold)
        for position, spec in enumerate(DEFAULT_RUBRIC)
    ]
    db.session.add(call)
    db.session.flush()
    return call


def _current_slots(now: dt.datetime, occ: Programme, exchange: Programme, occ_park: Site,
                   bvh: Site) -> list[Slot]:
    """Slots that hold the previous intake's residents today (the others start in the future)."""
    start = _first_of_month(now.date(), -9)
    end = _first_of_month(start, 24)
    slots = [
        Slot(programme=occ, site=occ_park, label="OCC office + private lab (current)", space_type="office_lab",
             capacity=2, starts_on=start, ends_on=end),
        Slot(programme=occ, site=occ_park, label="OCC shared lab benches (current)", space_type="lab_bench",
             capacity=3, starts_on=start, ends_on=end),
        Slot(programme=exchange, site=bvh, label="BioVentureHub office desks (current)", space_type="office_desk",
             capacity=2, starts_on=start, ends_on=end),
    ]
    db.session.add_all(slots)
    db.session.flush()
    return slots


def _decided_applications(now: dt.datetime, call: Call, reviewers: list[User], slots: list[Slot],
                          manager: User, password_hash: str) -> None:
    rules = criterion_rules(call)
    submitted_at = call.closes_at - dt.timedelta(days=3)
    reviewed_at = call.review_deadline - dt.timedelta(days=2)  # type: ignore[operator]
    decided_at = _noon(call.decision_date)  # type: ignore[arg-type]
    start = slots[0].starts_on
    slot_for = {"office_lab": slots[0], "lab_bench": slots[1], "office_desk": slots[2]}
    programme_of = {slot.space_type: slot.programme for slot in slots}
    for number, (startup, decision, scores, shared) in enumerate(PREVIOUS_CALL_STARTUPS, start=1):
        founder = _founder(startup, password_hash)
        application = _application(call, startup, founder, programme_of[startup.space_type], submitted_at,
                                   10 + number, start)
        application.state, application.decided_at, application.decided_by_id = decision, decided_at, manager.id
        application.decision_released_at = decided_at + dt.timedelta(hours=1)
        db.session.flush()
        pair = (reviewers[number % len(reviewers)], reviewers[(number + 2) % len(reviewers)])
        for reviewer, values in zip(pair, scores, strict=True):
            _submitted_review(application, reviewer, rules, values, reviewed_at)
        db.session.add(CommitteeNote(application_id=application.id, shared=shared, updated_by_id=manager.id,
                                     internal="Ranked on the mean of two reviews; discussed at the committee "
                                              "meeting.", updated_at=decided_at))
        db.session.add(CommitteeComment(application_id=application.id, author_id=manager.id, created_at=decided_at,
                                        body="Both reviews agree; no discussion needed beyond the ranking."))
        if decision == "accepted":
            _resident(application, slot_for[startup.space_type], start, decided_at, manager)


def _submitted_review(application: Application, reviewer: User, rules: list, values: tuple[float, ...],
                      at: dt.datetime) -> None:
    scores = {rule.id: value for rule, value in zip(rules, values, strict=True)}
    db.session.add(Assignment(application_id=application.id, reviewer_id=reviewer.id, source="auto",
                              assigned_at=at - dt.timedelta(days=14), due_at=application.call.review_deadline))
    review = Review(application_id=application.id, reviewer_id=reviewer.id, state="submitted",
                    comment_committee="Solid science; the business plan needs sharper milestones.",
                    comment_applicant="Clear pitch; show the path to the first paying customer.", confidence=4,
                    weighted_score=Decimal(str(round(weighted_score(rules, scores), 4))),
                    created_at=at, updated_at=at, submitted_at=at)
    review.scores = [Score(criterion_id=rule_id, value=Decimal(str(value))) for rule_id, value in scores.items()]
    db.session.add(review)


def _resident(application: Application, slot: Slot, start: dt.date, decided_at: dt.datetime, manager: User) -> None:
    end = _first_of_month(start, 18)
    offered = decided_at + dt.timedelta(days=2)
    offer = Offer(application_id=application.id, slot=slot, state="accepted", starts_on=start, ends_on=end,
                  response_deadline=offered + dt.timedelta(days=14), created_at=offered, created_by_id=manager.id,
                  offered_at=offered, responded_at=offered + dt.timedelta(days=3))
    db.session.add(offer)
    db.session.flush()
    application.exchange_direction = application_direction(application)
    db.session.add(Residency(application_id=application.id, offer_id=offer.id, slot=slot, state="active",
                             starts_on=start, ends_on=end, created_at=offer.responded_at,
                             updated_at=offer.responded_at, exchange_direction=residency_direction(application, slot)))
