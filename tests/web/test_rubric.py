"""Managers edit a call's rubric until reviewing starts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask.testing import FlaskClient

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Review
from tests.conftest import csrf_token
from tests.factories import make_application, make_call


def rubric_form(client: FlaskClient, call_id: int, rows: list[dict[str, str]]) -> dict[str, str]:
    data = {"csrf_token": csrf_token(client, f"/manage/calls/{call_id}/rubric")}
    for index, row in enumerate(rows):
        for key, value in row.items():
            data[f"criteria-{index}-{key}"] = value
    return data


ROW = {"name": "Team", "weight": "20", "scale_min": "0", "scale_max": "5", "step": "0.5", "threshold": "3",
       "description": "Who does the work", "descriptors": "0 = Fails\n5 = Excellent"}


def test_manager_saves_a_rubric_with_descriptors(manager_client: FlaskClient) -> None:
    call = make_call()
    rows = [ROW, {**ROW, "name": "IP position", "weight": "10", "threshold": ""}, {"name": ""}]
    response = manager_client.post(f"/manage/calls/{call.id}/rubric", data=rubric_form(manager_client, call.id, rows))
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.refresh(call)
    assert [(c.name, c.weight, c.threshold) for c in call.criteria] == [
        ("Team", Decimal("20.000"), Decimal("3.00")), ("IP position", Decimal("10.000"), None)]
    assert call.criteria[0].descriptors == {"0": "Fails", "5": "Excellent"}


def test_rubric_with_step_not_dividing_the_scale_is_refused(manager_client: FlaskClient) -> None:
    call = make_call()
    response = manager_client.post(f"/manage/calls/{call.id}/rubric",
                                   data=rubric_form(manager_client, call.id, [{**ROW, "step": "0.3"}]))
    assert response.status_code == 400
    assert "Team: the step must divide the scale evenly." in response.get_data(as_text=True)
    db.session.refresh(call)
    assert call.criteria == []


def test_rubric_with_threshold_off_the_scale_or_duplicate_names_is_refused(manager_client: FlaskClient) -> None:
    call = make_call()
    response = manager_client.post(f"/manage/calls/{call.id}/rubric",
                                   data=rubric_form(manager_client, call.id, [{**ROW, "threshold": "7"}, ROW]))
    assert response.status_code == 400
    assert "Each criterion needs its own name." in response.get_data(as_text=True)


def test_rubric_is_locked_once_reviewing_has_started(manager_client: FlaskClient, make_user) -> None:
    call = make_call()
    manager_client.post(f"/manage/calls/{call.id}/rubric", data=rubric_form(manager_client, call.id, [ROW]))
    application = make_application(make_user(Role.APPLICANT), call, state="under_review", complete=True)
    db.session.add(Review(application_id=application.id, reviewer_id=make_user(Role.REVIEWER).id))
    db.session.commit()
    page = manager_client.get(f"/manage/calls/{call.id}/rubric").get_data(as_text=True)
    assert "the rubric is shown read-only" in page and 'value="Team"' in page
    response = manager_client.post(f"/manage/calls/{call.id}/rubric",
                                   data=rubric_form(manager_client, call.id, [{**ROW, "name": "Changed"}]))
    assert response.status_code == 409
    db.session.refresh(call)
    assert [c.name for c in call.criteria] == ["Team"]


def test_rubric_and_call_pages_are_for_managers_only(reviewer_client: FlaskClient, applicant_client: FlaskClient) -> None:
    call = make_call()
    for client in (reviewer_client, applicant_client):
        assert client.get(f"/manage/calls/{call.id}/rubric").status_code == 403
        assert client.get(f"/manage/calls/{call.id}").status_code == 403


def test_unknown_call_is_404(manager_client: FlaskClient) -> None:
    assert manager_client.get("/manage/calls/999/rubric").status_code == 404
    assert manager_client.get("/manage/calls/999").status_code == 404


@pytest.mark.parametrize(("changes", "message"), [
    ({"scale_max": "1E+100"}, "Give a number from -999.99 to 999.99."),  # overflowed NUMERIC(5,2): 500
    ({"scale_min": "-1E+1000000"}, "Give a number from -999.99 to 999.99."),
    ({"step": "1E-1000000"}, "Give a number from 0.01 to 999.99."),  # broke the step arithmetic
    ({"step": "0.001"}, "Give a number from 0.01 to 999.99."),
    ({"threshold": "2.555"}, "Use at most 2 decimals."),
    ({"weight": "1E+100"}, "Give a number from 0.001 to 999."),
    ({"scale_max": "999", "step": "0.01"}, "Team: the scale may have at most 101 levels."),
    ({"descriptors": "good = Good"}, "Team: each level descriptor starts with a number"),
])
def test_rubric_numbers_beyond_their_columns_are_refused_with_a_message(manager_client: FlaskClient,
                                                                        changes: dict[str, str],
                                                                        message: str) -> None:
    call = make_call()
    response = manager_client.post(f"/manage/calls/{call.id}/rubric",
                                   data=rubric_form(manager_client, call.id, [{**ROW, **changes}]))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.refresh(call)
    assert call.criteria == []
    assert manager_client.get(f"/manage/calls/{call.id}/rubric").status_code == 200
