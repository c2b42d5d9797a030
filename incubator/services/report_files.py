"""The dashboards' figures as files for the partners: a PDF (pictures and tables) and an .xlsx
workbook (one sheet of raw numbers per figure).

Both are built from the same ``Figure`` list the pages show, so a report never says something
the dashboard does not. fpdf2 and openpyxl are pure Python: no system libraries to install.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # both load when a report is made (0.5 s of imports every process would pay)
    from fpdf import FPDF

PDF_MIMETYPE = "application/pdf"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# PDF's built-in fonts know Latin-1 only (enough for English, Norwegian and Swedish letters);
# these typographic characters Babel and the charts use are replaced by their plain cousins.
PLAIN = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u202f": " ",
                       "\u2009": " ", "\u00b1": "+/-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")
# fpdf2 draws SVG shapes and text but not <title> (the pages' tooltips); dropped, not warned about.
SVG_TITLE = re.compile(r"<title[^>]*>.*?</title>", re.S)


@dataclass
class Figure:
    """One picture with its numbers: ``rows`` hold raw values (for the workbook), ``texts`` the
    same values as the reader reads them (for the page and the PDF)."""

    key: str
    title: str
    svg: str
    columns: list[str]
    rows: list[list[Any]]
    texts: list[list[str]]
    note: str = ""
    extra: list[str] = field(default_factory=list)


def _latin1(text: str) -> str:
    return text.translate(PLAIN).encode("latin-1", "replace").decode("latin-1")


def pdf_report(title: str, subtitle: str, figures: Sequence[Figure]) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(_latin1(title))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 10)
    pdf.multi_cell(0, 6, _latin1(subtitle), new_x="LMARGIN", new_y="NEXT")
    for figure in figures:
        _pdf_figure(pdf, figure)
    return bytes(pdf.output())


def _pdf_figure(pdf: FPDF, figure: Figure) -> None:
    pdf.ln(4)
    pdf.set_font("helvetica", "B", 12)
    pdf.multi_cell(0, 7, _latin1(figure.title), new_x="LMARGIN", new_y="NEXT")
    if figure.svg:
        if pdf.get_y() > 200:
            pdf.add_page()
        pdf.image(io.BytesIO(_latin1(SVG_TITLE.sub("", figure.svg)).encode("utf-8")), w=pdf.epw)
    pdf.set_font("helvetica", "", 8)
    if figure.note:
        pdf.multi_cell(0, 5, _latin1(figure.note), new_x="LMARGIN", new_y="NEXT")
    if figure.texts:
        with pdf.table(text_align="LEFT", first_row_as_headings=True, line_height=5) as table:
            header = table.row()
            for column in figure.columns:
                header.cell(_latin1(column))
            for values in figure.texts:
                row = table.row()
                for value in values:
                    row.cell(_latin1(value))


def _sheet_name(title: str, used: set[str]) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = SHEET_NAME_BAD.sub(" ", title)[:28].strip() or "Sheet"
    name, n = base, 2
    while name.lower() in used:
        name, n = f"{base[:26]} {n}", n + 1
    used.add(name.lower())
    return name


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula is kept as text (CSV/formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def xlsx_report(title: str, figures: Sequence[Figure]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    first = workbook.active
    assert first is not None  # a new workbook always has its first sheet
    first.title = _sheet_name(title, set())
    first.append([_cell(title)])
    first["A1"].font = Font(bold=True, size=14)
    for figure in figures:
        first.append([_cell(figure.title)])
    used = {first.title.lower()}
    for figure in figures:
        sheet = workbook.create_sheet(_sheet_name(figure.title, used))
        sheet.append([_cell(figure.title)])
        sheet["A1"].font = Font(bold=True)
        sheet.append([_cell(column) for column in figure.columns])
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in figure.rows:
            sheet.append([_cell(value) for value in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
