"""The occupancy CSV's headers and the calendar feeds' event texts come from the catalogue: the
CSV in the reader's language, a feed in its owner's chosen language (calendar apps send none)."""

from __future__ import annotations

import datetime as dt

from flask.testing import FlaskClient

from incubator.database import utcnow
from incubator.extensions import db
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment
from tests.integration.test_residencies_service import make_slot
from tests.web.test_notifications import _calendar_action, _feed_path

CSV_PATH = "/manage/occupancy.csv?start=2027-01&months=2"


def test_occupancy_csv_headers_follow_the_readers_language(manager_client: FlaskClient) -> None:
    make_slot(make_call(), capacity=2)
    english = manager_client.get(CSV_PATH, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert english.splitlines()[0] == "Programme,Site,Slot,Space type,Month,Capacity,Residents,Offered,Free,Utilisation"
    norwegian = manager_client.get(CSV_PATH, headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert norwegian.splitlines()[0] == ("Program,Lokasjon,Plassblokk,Type lokaler,Måned,Kapasitet,Residenter,"
                                         "Tilbudt,Ledige,Utnyttelse")
    assert norwegian.splitlines()[1:] == english.splitlines()[1:]  # only the headers are translated
    swedish = manager_client.get(CSV_PATH, headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert swedish.splitlines()[0].startswith("Program,Anläggning,Platsblock,Typ av lokal,Månad,")


def test_a_reviewers_feed_is_in_the_reviewers_language_whatever_the_calendar_app_asks(
        reviewer_client: FlaskClient, client: FlaskClient) -> None:
    reviewer = reviewer_client.user  # type: ignore[attr-defined]
    deadline = dt.datetime(2027, 3, 29, 10, 0, tzinfo=dt.UTC)
    call = make_call(opens_at=deadline - dt.timedelta(days=60), closes_at=deadline - dt.timedelta(days=30),
                     review_deadline=deadline)
    make_assignment(make_application(make_applicant(), call, state="submitted", company_name="Feed AS"),
                    reviewer, due_at=deadline)
    reviewer.locale = "nb"
    db.session.commit()
    assert _calendar_action(reviewer_client, "rotate") == 302
    text = client.get(_feed_path(reviewer_client), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "SUMMARY:Vurderingsfrist: Feed AS" in text and "Review due" not in text


def test_a_managers_feed_without_a_chosen_language_follows_the_request(
        manager_client: FlaskClient, client: FlaskClient) -> None:
    call = make_call(review_deadline=utcnow() + dt.timedelta(days=50), decision_date=dt.date(2027, 5, 2))
    assert _calendar_action(manager_client, "rotate") == 302
    text = client.get(_feed_path(manager_client), headers={"Accept-Language": "sv"}).get_data(as_text=True)
    assert f"SUMMARY:Utlysningen stänger: {call.title}" in text
    assert f"SUMMARY:Beslut: {call.title}" in text and "Call closes" not in text
