"""Each input guard of issue 14 item 5, pinned by the request that gave a 500 before it."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import IntegerConverter

from incubator.extensions import db
from incubator.models import Application
from incubator.web.inputs import MAX_DATABASE_ID, DatabaseIdConverter
from tests.conftest import csrf_token
from tests.factories import make_application, make_call
from tests.web.walk import changed_tables, database_fingerprint


def test_every_numeric_path_argument_uses_the_bounded_id_converter(app: Flask) -> None:
    numeric = [(rule.endpoint, converter) for rule in app.url_map.iter_rules()
               for converter in rule._converters.values() if isinstance(converter, IntegerConverter)]
    assert len(numeric) > 20
    assert all(isinstance(converter, DatabaseIdConverter) for _, converter in numeric), numeric


def test_ids_beyond_an_id_column_are_404_not_500(app: Flask, client: FlaskClient,
                                                 applicant_client: FlaskClient, admin_client: FlaskClient) -> None:
    for too_big in (str(MAX_DATABASE_ID + 1), str(2**63), "1" + "0" * 30, "²", "٣"):
        assert applicant_client.get(f"/applications/{too_big}").status_code == 404, too_big
        assert client.get(f"/calendar/{too_big}/x.ics").status_code == 404, too_big  # no login needed
        assert admin_client.get(f"/admin/users/{too_big}").status_code == 404, too_big
    assert applicant_client.get(f"/applications/{MAX_DATABASE_ID}").status_code == 404  # largest id: not found


def test_query_numbers_out_of_range_are_400_with_a_message(admin_client: FlaskClient,
                                                           manager_client: FlaskClient) -> None:
    for page, message in [("1" + "0" * 30, "page must be between 1 and"), ("0", "page must be between 1 and"),
                          ("-1", "page must be a whole number."), ("²", "page must be a whole number.")]:
        response = admin_client.get("/admin/users", query_string={"page": page})
        assert response.status_code == 400, page
        assert message in response.get_data(as_text=True)
    # The logs page by keyset: a hostile cursor or filter id shows the newest page, never a 500.
    for query in ({"before": "²"}, {"before": str(2**63)}, {"subject_id": "²"}, {"subject_id": "1" + "0" * 30}):
        assert admin_client.get("/admin/audit", query_string=query).status_code == 200, query
        assert admin_client.get("/admin/outbox", query_string=query).status_code == 200, query
    for months in ("²", "1" + "0" * 30, "0"):
        response = manager_client.get("/manage/occupancy", query_string={"months": months})
        assert response.status_code == 400, months
        assert "Show between 1 and" in response.get_data(as_text=True)
    response = manager_client.get("/manage/occupancy", query_string={"programme": str(2**63)})
    assert response.status_code == 400
    assert manager_client.get("/manage/occupancy", query_string={"start": "9999-12", "months": "120"}).status_code < 500


def test_nul_bytes_are_refused_anywhere_and_change_nothing(app: Flask, client: FlaskClient,
                                                           applicant_client: FlaskClient) -> None:
    application = make_application(applicant_client.user, make_call())  # type: ignore[attr-defined]
    step = f"/applications/{application.id}/steps/company"
    token = csrf_token(applicant_client, step)
    before = database_fingerprint()
    response = applicant_client.post(step, data={"company_name": "Tumour\x00Tech", "csrf_token": token})
    assert response.status_code == 400
    assert "NUL character" in response.get_data(as_text=True)
    assert changed_tables(before, database_fingerprint()) == []
    assert applicant_client.get(step, query_string={"q": "a\x00"}).status_code == 400
    assert client.get("/calls/x%00y").status_code == 400
    assert client.post("/login", data={"email\x00": "x"}).status_code == 400  # names count too


def test_over_long_text_is_refused_with_a_message_and_changes_nothing(applicant_client: FlaskClient) -> None:
    application = make_application(applicant_client.user, make_call())  # type: ignore[attr-defined]
    step = f"/applications/{application.id}/steps/company"
    before = database_fingerprint()
    response = applicant_client.post(step, data={"company_name": "x" * 10_000,
                                                 "csrf_token": csrf_token(applicant_client, step)})
    assert response.status_code == 400
    assert "Field cannot be longer than 200 characters." in response.get_data(as_text=True)
    assert changed_tables(before, database_fingerprint()) == []
    db.session.expire_all()
    assert db.session.get(Application, application.id).company_name is None
