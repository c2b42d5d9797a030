"""Personal data and committee files leaving the service are recorded in the audit trail."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select

from incubator.extensions import db
from incubator.models import AuditEvent
from tests.factories import make_application, make_call
from tests.factories_reviews import make_rubric


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_personal_data_export_is_recorded(applicant_client: FlaskClient) -> None:
    make_application(applicant_client.user, make_call(), state="submitted", complete=True)
    assert applicant_client.get("/account/export").status_code == 200
    [event] = events("account.data_exported")
    assert (event.actor_id, event.subject_type, event.subject_id) == (
        applicant_client.user.id, "user", applicant_client.user.id)
    assert event.details == {"applications": 1} and event.ip_address == "127.0.0.1"


def test_ranking_csv_download_is_recorded_with_its_options(manager_client: FlaskClient) -> None:
    call = make_call()
    make_rubric(call)
    make_application(manager_client.user, call, state="submitted", complete=True)
    assert manager_client.get(f"/manage/calls/{call.id}/ranking.csv?flag=threshold").status_code == 200
    [event] = events("ranking.csv_downloaded")
    assert (event.actor_id, event.subject_type, event.subject_id) == (manager_client.user.id, "call", call.id)
    # Nothing is reviewed, so no row fails a threshold: the file had no rows.
    assert event.details["rows"] == 0 and event.details["options"]["flag"] == "threshold"


def test_refused_ranking_csv_is_not_recorded(manager_client: FlaskClient) -> None:
    call = make_call()
    assert manager_client.get(f"/manage/calls/{call.id}/ranking.csv?sort=nonsense").status_code == 400
    assert events("ranking.csv_downloaded") == []


def test_staff_download_of_an_attachment_is_recorded_and_the_owners_is_not(
        applicant_client: FlaskClient, manager_client: FlaskClient) -> None:
    application = make_application(applicant_client.user, make_call(), state="submitted", complete=True)
    [attachment] = application.attachments
    url = f"/applications/{application.id}/attachments/{attachment.id}"
    assert applicant_client.get(url).status_code == 200
    assert events("attachment.downloaded") == []
    assert manager_client.get(url).status_code == 200
    [event] = events("attachment.downloaded")
    assert (event.actor_id, event.subject_type, event.subject_id) == (
        manager_client.user.id, "application", application.id)
    assert event.details == {"attachment_id": attachment.id, "kind": "pitch_deck"}
