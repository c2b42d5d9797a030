"""The insights dashboards and reports: managers only; each picture's numbers equal its table's
and the service's; the downloads are real PDF and .xlsx files; the reader's language is used."""

from __future__ import annotations

import io
import re
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from tests.insights_data import KnownCall, build_known_call

SECTION = re.compile(r'<section class="insight-figure[^"]*" aria-labelledby="(?P<key>[\w-]+)-heading">(?P<body>.*?)</section>',
                     re.S)
MARK_TITLE = re.compile(r"<(?:rect|circle|path)[^>]*><title>(?P<text>[^<]*)</title>")
ROW = re.compile(r"<tr><th scope=\"row\">(?P<head>[^<]*)</th>(?P<cells>.*?)</tr>", re.S)
CELL = re.compile(r"<td>([^<]*)</td>")


@pytest.fixture
def known(app: Flask) -> KnownCall:
    return build_known_call()


def call_paths(call_id: int) -> list[str]:
    base = f"/manage/calls/{call_id}/insights"
    return [base, base + "/report.pdf", base + "/report.xlsx"]


YEAR_PATHS = ["/manage/insights?year=2026", "/manage/insights/report.pdf?year=2026",
              "/manage/insights/report.xlsx?year=2026"]


def figures(page: str) -> dict[str, tuple[list[str], list[tuple[str, list[str]]]]]:
    """Per figure: the texts of the picture's marks, and the table's rows (header, cells)."""
    found = {}
    for section in SECTION.finditer(page):
        body = section.group("body")
        marks = [unescape(m.group("text")) for m in MARK_TITLE.finditer(body)]
        rows = [(unescape(r.group("head")), [unescape(c) for c in CELL.findall(r.group("cells"))])
                for r in ROW.finditer(body)]
        found[section.group("key")] = (marks, rows)
    return found


def test_reviewers_and_applicants_are_refused(known: KnownCall, reviewer_client: FlaskClient,
                                              applicant_client: FlaskClient, client: FlaskClient) -> None:
    for path in call_paths(known.call.id) + YEAR_PATHS:
        assert reviewer_client.get(path).status_code == 403, path
        assert applicant_client.get(path).status_code == 403, path
        assert client.get(path).status_code == 302, path  # to the login page


def test_call_dashboard_pictures_agree_with_their_tables(known: KnownCall, manager_client: FlaskClient) -> None:
    response = manager_client.get(f"/manage/calls/{known.call.id}/insights")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "<script" not in page.split("<main", 1)[1].split("</main>", 1)[0]
    shown = figures(page)
    marks, rows = shown["funnel"]
    assert marks == ["Started: 6", "Submitted: 5", "Eligible: 4", "Reviewed: 2", "Accepted: 1",
                     "Offered a place: 1", "Resident: 1"]
    assert [f"{head}: {cells[0]}" for head, cells in rows] == marks
    assert rows[2][1] == ["4", "80%", "1"]  # eligible: 4 of 5 submitted kept, 1 dropped off
    per_day_marks, per_day_rows = shown["per-day"]
    assert len(per_day_marks) == len(per_day_rows) == 31
    assert [f"{head}: {cells[0]}" for head, cells in per_day_rows] == per_day_marks
    assert "10 Mar: 2" in per_day_marks and "30 Mar: 1" in per_day_marks
    score_keys = [key for key in shown if key.startswith("scores-")]
    assert len(score_keys) == 2
    for key in score_keys:
        assert shown[key][0] == ["1: 1", "2: 1", "3: 1", "4: 1"]
    reviewer_marks, reviewer_rows = shown["reviewers"]
    assert reviewer_rows == [("Ada Reviewer", ["3", "2", "0", "1", "3.00", "1.00", "2.00", "1.00"]),
                             ("Bo Reviewer", ["3", "2", "1", "0", "2.00", "1.00", "3.00", "-1.00"])]
    assert reviewer_marks[:2] == ["Ada Reviewer: 3.00", "Ada Reviewer, Others' mean on the same applications: 2.00"]
    assert shown["decision-time"][0] == ["7–13 days: 1", "28–34 days: 1"]


def test_year_dashboard_pictures_agree_with_their_tables(known: KnownCall, manager_client: FlaskClient) -> None:
    response = manager_client.get("/manage/insights?year=2026")
    assert response.status_code == 200
    shown = figures(response.get_data(as_text=True))
    assert shown["countries"] == (["Norway: 4", "Sweden: 1"], [("Norway", ["4"]), ("Sweden", ["1"])])
    assert shown["focus-areas"][0] == ["Radiopharmaceuticals: 4", "Diagnostics: 1"]
    assert shown["calls"][0] == [f"{known.call.title}: 5"]
    assert shown["calls"][1] == [(known.call.title, ["6", "5", "4", "2", "1", "1", "1"])]
    utilisation_marks, utilisation_rows = shown["utilisation"]
    assert len(utilisation_marks) == len(utilisation_rows) == 12
    assert utilisation_rows[8][1][-1] == "25%" and utilisation_marks[8].endswith(": 25%")


def test_bad_year_is_a_clear_400(known: KnownCall, manager_client: FlaskClient) -> None:
    for year in ("abc", "1999", "99999999999999999999", "-1"):
        response = manager_client.get(f"/manage/insights?year={year}")
        assert response.status_code == 400, year
        assert "year must be" in response.get_data(as_text=True)


def test_reports_download_as_pdf_and_spreadsheet(known: KnownCall, manager_client: FlaskClient) -> None:
    for base, stem in ((f"/manage/calls/{known.call.id}/insights", f"call-{known.call.id}-report"),
                       ("/manage/insights", "report-2026")):
        pdf = manager_client.get(base + "/report.pdf?year=2026")
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        assert pdf.headers["Content-Disposition"] == f'attachment; filename="{stem}.pdf"'
        assert pdf.data.startswith(b"%PDF-")
        xlsx = manager_client.get(base + "/report.xlsx?year=2026")
        assert xlsx.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        assert xlsx.headers["Content-Disposition"] == f'attachment; filename="{stem}.xlsx"'
        load_workbook(io.BytesIO(xlsx.data))
    workbook = load_workbook(io.BytesIO(manager_client.get(call_paths(known.call.id)[2]).data))
    funnel = workbook["Funnel"]
    values = [[cell.value for cell in row] for row in funnel.iter_rows(min_row=3)]
    assert [row[:2] for row in values] == [["Started", 6], ["Submitted", 5], ["Eligible", 4], ["Reviewed", 2],
                                           ["Accepted", 1], ["Offered a place", 1], ["Resident", 1]]
    assert values[2][2] == pytest.approx(0.8)


def test_dashboards_speak_the_readers_language(known: KnownCall, manager_client: FlaskClient) -> None:
    norwegian = manager_client.get(f"/manage/calls/{known.call.id}/insights",
                                   headers={"Accept-Language": "nb"}).get_data(as_text=True)
    assert "Trakt" in norwegian and "10 mars: 2" in norwegian
    swedish = manager_client.get("/manage/insights?year=2026", headers={"Accept-Language": "sv"})
    assert "Ansökningar per land" in swedish.get_data(as_text=True)
    assert "Norge: 4" in swedish.get_data(as_text=True)


def test_a_large_pool_shows_the_reviewers_furthest_from_the_others(app: Flask) -> None:
    from incubator.services.insights import ReviewerFigures
    from incubator.web.manage.insights import REVIEWERS_SHOWN, reviewer_figure

    pool = [ReviewerFigures(n, f"Reviewer {n:02d}", 2, 2, 0, 2, 3.0 + n / 100, 0.5, 3.0) for n in range(40)]
    with app.test_request_context("/"):
        figure = reviewer_figure(pool, 0, 5)
    assert len(figure.rows) == 40  # the spreadsheet has everyone
    assert [row[0] for row in figure.texts] == [f"Reviewer {n:02d}" for n in range(40 - REVIEWERS_SHOWN, 40)]
    assert figure.svg.count("<circle") == REVIEWERS_SHOWN and "25 of 40" in figure.note


def test_call_dashboard_says_when_its_figures_were_computed_and_follows_changes(
        known: KnownCall, manager_client: FlaskClient) -> None:
    from incubator.extensions import db

    path = f"/manage/calls/{known.call.id}/insights"
    page = manager_client.get(path).get_data(as_text=True)
    assert "Figures as of" in page
    assert figures(page)["funnel"][1][1] == ("Submitted", ["5", "83%", "1"])
    withdrawn = known.applications["submitted"]
    withdrawn.withdrawn_at, withdrawn.state = withdrawn.submitted_at, "withdrawn"
    db.session.commit()
    eligible = figures(manager_client.get(path).get_data(as_text=True))["funnel"][1][2]
    assert eligible == ("Eligible", ["3", "60%", "2"])
