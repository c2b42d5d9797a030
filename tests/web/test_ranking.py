"""The ranking board and its CSV download through the test client: who may see them, sorting
and filters by plain links, refusals of bad options, and the CSV's safety."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from incubator.extensions import db
from incubator.models import ProgrammePreference
from incubator.web.manage import ranking as ranking_views
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_review, make_reviewer, make_rubric


@pytest.fixture
def board(app: Flask) -> SimpleNamespace:
    return reviewed_board()


def reviewed_board() -> SimpleNamespace:
    """Three reviewed companies (scores on one 0–5 criterion) and one not yet reviewed."""
    call = make_call(slug="spring/2027 intake", disagreement_threshold=Decimal("1.00"))
    criteria = make_rubric(call, [{"name": "Team", "weight": Decimal(1), "threshold": Decimal(3)}])
    team = criteria[0].id
    reviewers = [make_reviewer(), make_reviewer()]
    companies = {}
    for name, values in [("Nordic Onco AS", (4, 4.5)), ("Radium Bio", (1, 5)), ("Bergen Dx", (2, 2.5)),
                         ("Unscored AS", ())]:
        application = make_application(make_applicant(), call, state="submitted", complete=True, company_name=name)
        for reviewer, value in zip(reviewers, values, strict=False):
            make_assignment(application, reviewer)
            make_review(application, reviewer, {team: value})
        companies[name] = application
    return SimpleNamespace(call=call, companies=companies, reviewers=reviewers, team=team)


def url(board: SimpleNamespace, suffix: str = "ranking", **args: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in args.items())
    return f"/manage/calls/{board.call.id}/{suffix}" + (f"?{query}" if query else "")


def body_rows(html: str) -> list[str]:
    """Company names in the order of the table's rows."""
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a></th>', tbody)


def test_manager_sees_the_board(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    response = manager_client.get(url(board))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert body_rows(html) == ["Nordic Onco AS", "Radium Bio", "Bergen Dx", "Unscored AS"]
    nordic = board.companies["Nordic Onco AS"]
    assert f'href="/applications/{nordic.id}"' in html
    assert '<th scope="col" class="text-end" aria-sort="ascending">' in html  # rank, the default
    assert "4.25" in html  # Nordic's mean
    assert "Reviewers disagree" in html  # Radium: 1 and 5, std 2
    assert "Below threshold: Team" in html  # Bergen: 2.25 < 3
    assert "2/2" in html and "0/0" in html


def test_administrators_pass_too(admin_client: FlaskClient, board: SimpleNamespace) -> None:
    assert admin_client.get(url(board)).status_code == 200
    assert admin_client.get(url(board, "ranking.csv")).status_code == 200


@pytest.mark.parametrize("client_name", ["applicant_client", "reviewer_client"])
@pytest.mark.parametrize("suffix", ["ranking", "ranking.csv"])
def test_applicants_and_reviewers_get_403(request: pytest.FixtureRequest, board: SimpleNamespace,
                                          client_name: str, suffix: str) -> None:
    client = request.getfixturevalue(client_name)
    assert client.get(url(board, suffix)).status_code == 403


@pytest.mark.parametrize("suffix", ["ranking", "ranking.csv"])
def test_logged_out_visitors_are_sent_to_log_in(client: FlaskClient, board: SimpleNamespace, suffix: str) -> None:
    response = client.get(url(board, suffix))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("suffix", ["ranking", "ranking.csv"])
def test_unknown_call_is_404(manager_client: FlaskClient, board: SimpleNamespace, suffix: str) -> None:
    assert manager_client.get(f"/manage/calls/999999/{suffix}").status_code == 404


@pytest.mark.parametrize(
    ("args", "expected", "sorted_header"),
    [
        ({"sort": "company", "dir": "asc"}, ["Bergen Dx", "Nordic Onco AS", "Radium Bio", "Unscored AS"], "Company"),
        ({"sort": "company", "dir": "desc"}, ["Unscored AS", "Radium Bio", "Nordic Onco AS", "Bergen Dx"], "Company"),
        ({"sort": "std"}, ["Radium Bio", "Nordic Onco AS", "Bergen Dx", "Unscored AS"], "Std"),  # desc; ties by rank
        ({"sort": "mean", "dir": "asc"}, ["Bergen Dx", "Radium Bio", "Nordic Onco AS", "Unscored AS"], "Mean"),
    ],
)
def test_sorting_by_plain_links(manager_client: FlaskClient, board: SimpleNamespace, args: dict,
                                expected: list[str], sorted_header: str) -> None:
    html = manager_client.get(url(board, **args)).get_data(as_text=True)
    assert body_rows(html) == expected
    assert len(re.findall(r"aria-sort=", html)) == 1
    header = re.search(r'<th scope="col"[^>]*aria-sort="(\w+)">\s*<a href="([^"]+)">([^<]+)', html)
    assert header is not None and header.group(3).strip() == sorted_header
    direction = "descending" if args.get("dir", "desc") == "desc" else "ascending"
    assert header.group(1) == direction
    # The sorted column's own link turns the order around.
    flipped = "asc" if direction == "descending" else "desc"
    assert f"dir={flipped}" in header.group(2).replace("&amp;", "&")


def test_the_board_uses_no_inline_script(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    html = manager_client.get(url(board, normalised="1")).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+=", html)


def test_filters(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    exchange = board.call.programmes[1].programme_id
    db.session.add(ProgrammePreference(application_id=board.companies["Bergen Dx"].id, programme_id=exchange, rank=2))
    db.session.commit()
    assert body_rows(manager_client.get(url(board, programme=str(exchange))).get_data(as_text=True)) == ["Bergen Dx"]
    assert body_rows(manager_client.get(url(board, flag="disagreement")).get_data(as_text=True)) == ["Radium Bio"]
    assert body_rows(manager_client.get(url(board, flag="threshold")).get_data(as_text=True)) == ["Bergen Dx"]
    assert body_rows(manager_client.get(url(board, state="withdrawn")).get_data(as_text=True)) == []
    # Empty values are what the filter form sends for "all".
    everything = manager_client.get(url(board, programme="", state="", flag="", normalised=""))
    assert everything.status_code == 200 and len(body_rows(everything.get_data(as_text=True))) == 4


def test_normalised_toggle_adds_its_column(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    plain = manager_client.get(url(board)).get_data(as_text=True)
    normalised = manager_client.get(url(board, normalised="1")).get_data(as_text=True)
    assert "Normalised mean" not in plain
    assert "Normalised mean" in normalised
    assert 'name="normalised" value="1" checked' in normalised


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"sort": "salary"}, "There is no column salary to sort by."),
        ({"dir": "sideways"}, "Sort direction must be asc or desc."),
        ({"programme": "abc"}, "This call does not offer the programme abc."),
        ({"programme": "99999"}, "This call does not offer the programme 99999."),
        ({"state": "draft"}, "There is no application state draft."),
        ({"flag": "late"}, "There is no flag late."),
        ({"normalised": "maybe"}, "Normalised must be on or off."),
        ({"programme": "²"}, "This call does not offer the programme ²."),  # isdigit() but not int()
    ],
)
def test_bad_options_get_400_with_a_message_not_500(manager_client: FlaskClient, board: SimpleNamespace,
                                                     args: dict, message: str | None) -> None:
    response = manager_client.get(url(board, **args))
    html = response.get_data(as_text=True)
    if message is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert message in html
        assert len(body_rows(html)) == 4  # the board still shows, with the option ignored
        csv_response = manager_client.get(url(board, "ranking.csv", **args))
        assert csv_response.status_code == 400 and message in csv_response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("x", "page must be a whole number."),
        ("²", "page must be a whole number."),  # isdigit() but not int()
        ("1" + "0" * 30, "page must be between 1 and"),  # overflowed a 64-bit integer before
        ("0", "page must be between 1 and"),
        ("99", None),  # past the last page just shows the last one
    ],
)
def test_bad_page_numbers_get_400_with_a_message(manager_client: FlaskClient, board: SimpleNamespace,
                                                 page: str, message: str | None) -> None:
    response = manager_client.get(url(board, page=page))
    html = response.get_data(as_text=True)
    if message is None:
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert message in html
    assert len(body_rows(html)) == 4  # the board still shows


def test_pages(manager_client: FlaskClient, board: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ranking_views, "PAGE_SIZE", 3)
    first = manager_client.get(url(board, sort="company", dir="asc")).get_data(as_text=True)
    assert body_rows(first) == ["Bergen Dx", "Nordic Onco AS", "Radium Bio"]
    assert "Page 1 of 2" in first and "page=2" in first and "sort=company" in first
    second = manager_client.get(url(board, sort="company", dir="asc", page="2")).get_data(as_text=True)
    assert body_rows(second) == ["Unscored AS"]
    beyond = manager_client.get(url(board, page="99")).get_data(as_text=True)
    assert "Page 2 of 2" in beyond


def read_csv(response) -> list[dict[str, str]]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_csv_download(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    response = manager_client.get(url(board, "ranking.csv"))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="?ranking-spring-2027-intake-\d{4}-\d{2}-\d{2}\.csv"?', disposition)
    table = read_csv(response)
    assert [line["Company"] for line in table] == ["Nordic Onco AS", "Radium Bio", "Bergen Dx", "Unscored AS"]
    nordic = table[0]
    assert (nordic["Rank"], nordic["Mean"], nordic["Median"], nordic["Std"], nordic["Range"]) == (
        "1", "4.2500", "4.2500", "0.2500", "0.5000")
    assert (nordic["Reviews submitted"], nordic["Reviews assigned"], nordic["Mean: Team"]) == ("2", "2", "4.2500")
    assert table[1]["Disagreement"] == "yes" and table[2]["Below threshold"] == "Team"
    assert list(nordic)[-1] == "Mean: Team"


def test_csv_follows_the_boards_options(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    table = read_csv(manager_client.get(url(board, "ranking.csv", flag="disagreement", normalised="1")))
    assert [line["Company"] for line in table] == ["Radium Bio"]
    assert table[0]["Normalised mean"] != ""


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)", "\t=1"])
def test_csv_guards_against_formula_injection(manager_client: FlaskClient, board: SimpleNamespace,
                                              name: str) -> None:
    application = board.companies["Unscored AS"]
    application.company_name = name
    db.session.commit()
    table = read_csv(manager_client.get(url(board, "ranking.csv")))
    assert table[-1]["Company"] == "'" + name
    assert all(not value.startswith(("=", "+", "@")) for line in table for value in line.values())


def test_company_names_are_escaped_on_the_board(manager_client: FlaskClient, board: SimpleNamespace) -> None:
    application = board.companies["Unscored AS"]
    application.company_name = "<script>alert(1)</script>"
    db.session.commit()
    html = manager_client.get(url(board)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_programme_and_criterion_names_are_escaped_on_the_board(manager_client: FlaskClient,
                                                                 board: SimpleNamespace) -> None:
    """The rows are built in Python (web/manage/ranking_rows.py): every name people typed is escaped."""
    from incubator.models import Criterion, Programme

    db.session.get(Criterion, board.team).name = '<img src=x onerror="alert(1)">'  # Bergen fails its threshold
    bergen = board.companies["Bergen Dx"]
    programme = db.session.get(Programme, bergen.preferences[0].programme_id)
    programme.name = "<b>OCC</b> & friends"
    db.session.commit()
    html = manager_client.get(url(board)).get_data(as_text=True)
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert "<img" not in tbody and "<b>" not in tbody
    assert "Below threshold: &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in tbody
    assert "&lt;b&gt;OCC&lt;/b&gt; &amp; friends" in tbody
