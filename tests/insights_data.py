"""A small, fully known call for the insights tests: every figure on the dashboards can be
worked out by hand from what is written here (see the expected numbers beside each line)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import update

from incubator.extensions import db
from incubator.models import Application, Call, Offer, ProgrammePreference, Residency, Slot, User
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric

OPENS = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
CLOSES = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)  # "now" for overdue assignments


@dataclass
class KnownCall:
    call: Call
    occ_programme_id: int
    exchange_programme_id: int
    slot: Slot
    reviewers: tuple[User, User]
    applications: dict[str, Application]


def _submitted(call: Call, state: str, day: int, **fields: object) -> Application:
    return make_application(make_applicant(), call, state=state, complete=True,
                            submitted_at=dt.datetime(2026, 3, day, 10, 0, tzinfo=dt.UTC), **fields)


def build_known_call() -> KnownCall:
    call = make_call(opens_at=OPENS, closes_at=CLOSES, state="deciding")
    occ, exchange = call.programmes[0].programme_id, call.programmes[1].programme_id
    science, team = make_rubric(call, [{"name": "Science", "weight": 1}, {"name": "Team", "weight": 1}])
    apps = {
        "draft": make_application(make_applicant(), call),  # started only, no preference
        "submitted": _submitted(call, "submitted", 10, focus_area="diagnostics"),
        "withdrawn": _submitted(call, "withdrawn", 10, withdrawn_at=dt.datetime(2026, 3, 20, tzinfo=dt.UTC)),
        "accepted": _submitted(call, "accepted", 12, country="SE",
                               decided_at=dt.datetime(2026, 4, 13, 10, 0, tzinfo=dt.UTC)),  # 32 days: bucket 28-34
        "rejected": _submitted(call, "rejected", 12, decided_at=dt.datetime(2026, 3, 20, 10, 0, tzinfo=dt.UTC)),  # 8 days
        "exchange": _submitted(call, "under_review", 30),
    }
    # Only this one ranked the exchange programme (instead of OCC): the scope tests' witness.
    db.session.execute(update(ProgrammePreference)
                       .where(ProgrammePreference.application_id == apps["exchange"].id)
                       .values(programme_id=exchange))
    first, second = make_reviewer(), make_reviewer()
    first.name, second.name = "Ada Reviewer", "Bo Reviewer"
    # First: 4 and 2 (mean 3, spread 1); second: 3 and 1 (mean 2, spread 1): the first is one point
    # more generous than the second on the same applications.
    for application, own, others in ((apps["accepted"], 4, 3), (apps["rejected"], 2, 1)):
        make_assignment(application, first, due_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
        make_assignment(application, second, due_at=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))
        make_review(application, first, {science.id: own, team.id: own})
        make_review(application, second, {science.id: others, team.id: others})
    make_assignment(apps["exchange"], first, due_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC))  # overdue at NOW
    make_assignment(apps["submitted"], second, due_at=dt.datetime(2099, 7, 1, tzinfo=dt.UTC))  # due, not late
    site_id = call.programmes[0].programme.host_site_id
    slot = Slot(programme_id=occ, site_id=site_id, label="Bench row A", space_type="lab_bench", capacity=4,
                starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2027, 1, 1))
    db.session.add(slot)
    db.session.flush()
    offer = Offer(application_id=apps["accepted"].id, slot_id=slot.id, state="accepted",
                  starts_on=dt.date(2026, 9, 1), ends_on=dt.date(2027, 1, 1),
                  response_deadline=dt.datetime(2026, 5, 1, tzinfo=dt.UTC), offered_at=dt.datetime(2026, 4, 15, tzinfo=dt.UTC),
                  responded_at=dt.datetime(2026, 4, 20, tzinfo=dt.UTC))
    db.session.add(offer)
    db.session.flush()
    db.session.add(Residency(application_id=apps["accepted"].id, offer_id=offer.id, slot_id=slot.id,
                             starts_on=dt.date(2026, 9, 1), ends_on=dt.date(2027, 1, 1)))
    db.session.commit()
    return KnownCall(call, occ, exchange, slot, (first, second), apps)
