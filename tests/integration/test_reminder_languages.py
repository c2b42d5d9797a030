"""The same reminder digest, sent by the scheduler's sweep, in each recipient's own language.

Three reviewers with the same two overdue-soon reviews differ only in ``users.locale``; the sweep
runs outside any request (as in the scheduler process) and delivers through a real SMTP server.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from incubator.extensions import db
from incubator.mail import deliver_all_due
from incubator.services import reminders
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_reviewer

OSLO = ZoneInfo("Europe/Oslo")


def oslo(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=OSLO).astimezone(dt.UTC)


@pytest.fixture
def mail(app: Flask, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port)
    return smtp_server


# What each language must say in the subject and body; none of it appears in the others.
EXPECTED = {
    "en": {"subject": "Reminder: 2 reviews due soon",
           "body": ["Hello Reviewer", "Reviews waiting for you:", "due Mon 29 Mar 2027, 12:00 CEST",
                    "Stop reminders with one click:"]},
    "nb": {"subject": "Påminnelse: 2 vurderinger snart ved fristen",
           "body": ["Hei Reviewer", "Vurderinger som venter på deg:", "frist man. 29 mars 2027, 12:00 CEST",
                    "Stopp påminnelser med ett klikk:"]},
    "sv": {"subject": "Påminnelse: 2 granskningar ska snart vara klara",
           "body": ["Hej Reviewer", "Granskningar som väntar på dig:", "ska vara klar mån 29 mars 2027, 12:00 CEST",
                    "Stoppa påminnelser med ett klick:"]},
}


def test_one_digest_in_english_norwegian_and_swedish(app: Flask, mail) -> None:
    call = make_call(opens_at=oslo(2027, 1, 1), closes_at=oslo(2027, 3, 1), review_deadline=oslo(2027, 3, 29, 12))
    alpha = make_application(make_applicant(), call, state="submitted", company_name="Alpha Onco AS")
    beta = make_application(make_applicant(), call, state="submitted", company_name="Beta Radiopharma AS")
    people = {}
    for locale in ("en", "nb", "sv"):
        reviewer = make_reviewer()
        reviewer.locale = locale
        people[locale] = reviewer.email
        for application in (alpha, beta):
            make_assignment(application, reviewer, due_at=call.review_deadline)
    db.session.commit()

    now = oslo(2027, 3, 22, 12)  # the default policy's first reminder, 7 days ahead at noon
    assert reminders.sweep(now).emails == 3
    db.session.commit()
    deliver_all_due(now)

    by_address = {message["To"]: message for message in mail.messages}
    assert set(by_address) == set(people.values())
    for locale, address in people.items():
        message = by_address[address]
        body = message.get_content()
        assert message["Subject"] == EXPECTED[locale]["subject"]
        for text in EXPECTED[locale]["body"]:
            assert text in body, (locale, text, body)
        assert "Alpha Onco AS" in body and "Beta Radiopharma AS" in body
        for other, expected in EXPECTED.items():
            if other != locale:
                assert expected["body"][1] not in body, (locale, other)
