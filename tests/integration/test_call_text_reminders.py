"""The scheduler's draft reminder names the call in the applicant's language (the sweep reads
the call's columns, not a Call, so it has its own path to the translated title)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import select

from incubator.extensions import db
from incubator.models import OutboundEmail
from incubator.services import reminders
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant


def test_a_draft_reminder_names_the_call_in_the_applicants_language(app: Flask) -> None:
    closes = dt.datetime(2027, 6, 1, 10, tzinfo=dt.UTC)
    call = make_call(opens_at=closes - dt.timedelta(days=30), closes_at=closes, title="Summer intake",
                     translations={"nb": {"title": "Sommeropptak"}})
    norwegian, english = make_applicant(locale="nb"), make_applicant()
    for applicant in (norwegian, english):
        make_application(applicant, call, state="draft")
    moment = closes - dt.timedelta(days=5)
    while moment < closes:
        reminders.sweep(moment)
        db.session.commit()
        moment += dt.timedelta(hours=6)
    bodies = {address: [email.body_text for email in db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.to_address == address))]
        for address in (norwegian.email, english.email)}
    assert bodies[norwegian.email] and all("Sommeropptak" in body and "Summer intake" not in body
                                           for body in bodies[norwegian.email])
    assert bodies[english.email] and all("Summer intake" in body and "Sommeropptak" not in body
                                         for body in bodies[english.email])
