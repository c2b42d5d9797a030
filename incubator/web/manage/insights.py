"""Dashboards for programme managers (per call, and across calls and years) and the same
figures as PDF and .xlsx reports for the partners.

The services compute the numbers; this module names them in the reader's language, formats
them with Babel, draws them with ``domain.charts`` and pairs each picture with its table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal, format_percent
from flask import Response, abort, render_template
from flask_babel import get_locale
from flask_babel import gettext as _

from incubator.database import utcnow
from incubator.domain import charts
from incubator.domain.applications import FOCUS_AREAS, SPACE_TYPES
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call
from incubator.services import insights
from incubator.services.exchange import ExchangeYear, exchange_balance
from incubator.services.report_files import PDF_MIMETYPE, XLSX_MIMETYPE, Figure, pdf_report, xlsx_report
from incubator.services.scope import current_scope
from incubator.web.access import role_required
from incubator.web.inputs import query_int
from incubator.web.manage.routes import bp
from incubator.web.templating import country_name

FIRST_YEAR, LAST_YEAR = 2000, 2100
MONTHS_AHEAD = 12
# Reviewers drawn and listed on the page and in the PDF (a pool can have hundreds).
REVIEWERS_SHOWN = 25


def programme_scope() -> Collection[int] | None:
    """The programmes whose figures the signed-in user may see: a partner-limited manager's own
    (services/scope.py), None (every programme) for the others."""
    return current_scope()


# ---------------------------------------------------------------------------- formatting


def _locale() -> str:
    return str(get_locale() or "en")


@lru_cache(maxsize=8)
def _babel_locale(code: str) -> Locale:
    """Parsed once per language: Babel parses a locale given as text on every call, which was
    most of the time of formatting a few hundred numbers."""
    return Locale.parse(code)


def number(value: float | int | None, places: int = 0) -> str:
    if value is None:
        return "—"
    if places:
        return format_decimal(round(value, places), format=f"#,##0.{'0' * places}", locale=_babel_locale(_locale()))
    return format_decimal(value, locale=_babel_locale(_locale()))


def percent(value: float | None) -> str:
    return "—" if value is None else format_percent(value, locale=_babel_locale(_locale()))


def day(value: dt.date) -> str:
    return format_date(value, "d MMM", locale=_babel_locale(_locale()))


def month(value: dt.date) -> str:
    return format_date(value, "LLL y", locale=_babel_locale(_locale()))


def space_type(key: str) -> str:
    return _(SPACE_TYPES[key]) if key in SPACE_TYPES else key


# ---------------------------------------------------------------------------- figures


def bar_figure(key: str, title: str, columns: list[str], items: Sequence[tuple[str, float]],
               fmt: Callable[[float], str] = number, upright: bool = False) -> Figure:
    """A label -> number figure: the picture (horizontal bars, or ``upright`` columns for an
    ordered axis such as days or scores) and a two-column table of the same numbers."""
    bars = [charts.Bar(label, float(value), fmt(value)) for label, value in items]
    if upright:
        svg = charts.column_chart(title, bars, chart_id=key, tick=fmt, empty=_("No data yet."))
    else:
        svg = charts.bar_chart(title, bars, chart_id=key, empty=_("No data yet."))
    return Figure(key, title, svg, columns,
                  [[label, value] for label, value in items], [[bar.label, bar.text] for bar in bars])


def line_figure(key: str, title: str, x_labels: list[str], series: Sequence[tuple[str, Sequence[float | None]]],
                fmt: Callable[[float], str] = number, ceiling: float | None = None) -> Figure:
    """Lines over ordered labels (months, years) and a long table: label, series, value."""
    lines = [charts.Series(name, values, ["—" if v is None else fmt(v) for v in values]) for name, values in series]
    svg = charts.line_chart(title, x_labels, lines, chart_id=key, ceiling=ceiling,
                            tick=fmt, empty=_("No data yet."))
    rows = [[x, line.name, line.values[i]] for line in lines for i, x in enumerate(x_labels)]
    texts = [[x, line.name, line.texts[i]] for line in lines for i, x in enumerate(x_labels)]
    return Figure(key, title, svg, [_("Period"), _("Series"), _("Value")], rows, texts)


def funnel_figure(stages: Sequence[insights.FunnelStage]) -> Figure:
    names = stage_names()
    title = _("Funnel")
    svg = charts.bar_chart(title, [charts.Bar(names[s.stage], s.count, number(s.count)) for s in stages],
                           chart_id="funnel", empty=_("No data yet."))
    rows = [[names[s.stage], s.count, s.kept_share, None if s.previous is None else s.previous - s.count]
            for s in stages]
    texts = [[name, number(count), percent(share), "—" if lost is None else number(lost)]
             for name, count, share, lost in rows]
    return Figure("funnel", title, svg, [_("Stage"), _("Applications"), _("Share of the stage before"),
                                         _("Dropped off")], rows, texts,
                  note=_("Eligible: submitted and not withdrawn (eligibility is checked on submission)."))


def stage_names() -> dict[str, str]:
    return {"started": _("Started"), "submitted": _("Submitted"), "eligible": _("Eligible"),
            "reviewed": _("Reviewed"), "accepted": _("Accepted"), "offered": _("Offered a place"),
            "resident": _("Resident")}


def criterion_figure(criterion: insights.CriterionScores) -> Figure:
    items = [(number(score, 2 if score % 1 else 0), n) for score, n in criterion.counts]
    return bar_figure(f"scores-{criterion.criterion_id}", _("Scores on %(criterion)s", criterion=criterion.name),
                      [_("Score"), _("Reviews")], items, upright=True)


def _furthest_first(reviewer: insights.ReviewerFigures) -> tuple[float, str]:
    return (-abs(reviewer.offset) if reviewer.offset is not None else 0.0, reviewer.name.lower())


def reviewer_figure(reviewers: Sequence[insights.ReviewerFigures], low: float, high: float) -> Figure:
    """Each reviewer's mean and spread against the others' mean on the same applications, and
    their progress. A large pool is cut to the reviewers furthest from the others (the ones
    normalisation matters for) on the page and in the PDF; the spreadsheet has every reviewer."""
    title = _("Reviewers: mean weighted score ± spread, against the others on the same applications")
    shown = sorted(sorted(reviewers, key=_furthest_first)[:REVIEWERS_SHOWN], key=lambda r: (r.name.lower(), r.reviewer_id))
    ranges = [charts.Range(r.name, r.mean, r.mean - (r.spread or 0), r.mean + (r.spread or 0), number(r.mean, 2),
                           r.others_mean, number(r.others_mean, 2))
              for r in shown if r.mean is not None]
    svg = charts.range_chart(title, ranges, chart_id="reviewers", low=low, high=high,
                             reference_label=_("Others' mean on the same applications"), empty=_("No data yet."))
    rows = [[r.name, r.assigned, r.done, r.due, r.overdue, r.mean, r.spread, r.others_mean, r.offset]
            for r in reviewers]
    texts = [[r.name, number(r.assigned), number(r.done), number(r.due), number(r.overdue), number(r.mean, 2),
              number(r.spread, 2), number(r.others_mean, 2), number(r.offset, 2)] for r in shown]
    note = "" if len(shown) == len(reviewers) else _(
        "The %(shown)d of %(total)s reviewers whose mean is furthest from the others'; the spreadsheet has all.",
        shown=len(shown), total=number(len(reviewers)))
    return Figure("reviewers", title, svg, [_("Reviewer"), _("Assigned"), _("Done"), _("Due"), _("Overdue"),
                                            _("Mean"), _("Spread"), _("Others' mean"), _("Difference")], rows, texts,
                  note=note)


def decision_figure(times: insights.DecisionTimes) -> Figure:
    width = insights.DECISION_BUCKET_DAYS
    items = [(_("%(first)d–%(last)d days", first=first, last=first + width - 1), n) for first, n in times.buckets]
    figure = bar_figure("decision-time", _("Time from submission to decision"), [_("Days"), _("Decisions")],
                        items, upright=True)
    figure.note = _("%(decided)s decided, on average %(days)s days after submission.",
                    decided=number(times.decided), days=number(times.mean_days, 1))
    return figure


def figures_of_call(data: insights.CallInsights) -> list[Figure]:
    figures = [funnel_figure(data.funnel)]
    figures.append(bar_figure("per-day", _("Submissions per day towards the deadline"), [_("Day"), _("Submissions")],
                              [(day(d), n) for d, n in data.per_day], upright=True))
    figures.extend(criterion_figure(criterion) for criterion in data.scores)
    low = float(min((c.scale_min for c in data.scores), default=Decimal(0)))
    high = float(max((c.scale_max for c in data.scores), default=Decimal(5)))
    figures.append(reviewer_figure(data.reviewers, low, high))
    figures.append(decision_figure(data.decisions))
    return figures


def call_figures(call: Call, programme_ids: Collection[int] | None) -> list[Figure]:
    """The call's figures for the reports: stored ones while current (services.insights)."""
    return figures_of_call(insights.call_insights(call, programme_ids, utcnow()))


def year_figures(year: int, programme_ids: Collection[int] | None) -> list[Figure]:
    figures = []
    calls = insights.funnels_of_year(year, programme_ids)
    names = stage_names()
    submitted = bar_figure("calls", _("Submitted applications per call"), [], [
        (call.title, call.stages[1].count) for call in calls])
    submitted.columns = [_("Call"), *(names[stage] for stage in insights.FUNNEL_STAGES)]
    submitted.rows = [[call.title, *(s.count for s in call.stages)] for call in calls]
    submitted.texts = [[call.title, *(number(s.count) for s in call.stages)] for call in calls]
    figures.append(submitted)
    months = insights.months_from(dt.date(year, 1, 1), 12)
    lines = insights.occupancy_by_month(months, programme_ids)
    figures.append(occupancy_figure(months, lines))
    ahead = insights.months_from(utcnow().date(), MONTHS_AHEAD)
    figures.append(vacancy_figure(ahead, insights.occupancy_by_month(ahead, programme_ids)))
    submitted_by = insights.applications_by_country_and_focus_area(year, programme_ids)
    figures.append(bar_figure("countries", _("Applications by country"), [_("Country"), _("Applications")], [
        (country_name(code) if code else _("Not given"), n) for code, n in submitted_by["country"]]))
    figures.append(bar_figure("focus-areas", _("Applications by focus area"), [_("Focus area"), _("Applications")], [
        (_(FOCUS_AREAS[key]) if key in FOCUS_AREAS else _("Not given"), n) for key, n in submitted_by["focus_area"]]))
    figures.append(exchange_figure(exchange_balance(programme_ids)))
    return figures


def exchange_figure(years: Sequence[ExchangeYear]) -> Figure:
    """The Oslo–Gothenburg exchange over every year on record: startups each way (the months of
    residency are in the table and on the exchange report)."""
    figure = line_figure("exchange", _("Exchange balance per year"), [str(row.year) for row in years], [
        (_("Startups sent (NO to SE)"), [row.sent for row in years]),
        (_("Startups received (SE to NO)"), [row.received for row in years]),
    ])
    figure.columns = [_("Year"), _("Startups sent (NO to SE)"), _("Months sent"),
                      _("Startups received (SE to NO)"), _("Months received")]
    figure.rows = [[row.year, row.sent, row.sent_months, row.received, row.received_months] for row in years]
    figure.texts = [[str(row.year), number(row.sent), number(row.sent_months), number(row.received),
                     number(row.received_months)] for row in years]
    return figure


def _line_name(line: insights.OccupancyLine) -> str:
    return f"{line.site} · {space_type(line.space_type)}"


def occupancy_figure(months: list[dt.date], lines: Sequence[insights.OccupancyLine]) -> Figure:
    title = _("Utilisation per site and space type (residents ÷ places)")
    figure = line_figure("utilisation", title, [month(m) for m in months],
                         [(_line_name(line), line.utilisation) for line in lines], fmt=percent, ceiling=1.0)
    figure.columns = [_("Month"), _("Site"), _("Space type"), _("Places"), _("Residents"), _("Utilisation")]
    figure.rows = [[months[i].isoformat()[:7], line.site, space_type(line.space_type), line.capacity[i],
                    line.residents[i], line.utilisation[i]] for line in lines for i in range(len(months))]
    figure.texts = [[month(months[i]), line.site, space_type(line.space_type), number(line.capacity[i]),
                     number(line.residents[i]), percent(line.utilisation[i])]
                    for line in lines for i in range(len(months))]
    return figure


def vacancy_figure(months: list[dt.date], lines: Sequence[insights.OccupancyLine]) -> Figure:
    totals = [(month(m), sum(line.free[i] for line in lines)) for i, m in enumerate(months)]
    figure = bar_figure("vacancies", _("Free places ahead (not taken or offered)"), [], totals,
                        upright=True)
    figure.columns = [_("Month"), _("Site"), _("Space type"), _("Free places")]
    figure.rows = [[months[i].isoformat()[:7], line.site, space_type(line.space_type), line.free[i]]
                   for i in range(len(months)) for line in lines]
    figure.texts = [[month(months[i]), line.site, space_type(line.space_type), number(line.free[i])]
                    for i in range(len(months)) for line in lines]
    return figure


# ---------------------------------------------------------------------------- pages


def _call(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


def _download(content: bytes, mimetype: str, filename: str) -> Response:
    return Response(content, mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "private, no-store"})


@bp.route("/calls/<int:call_id>/insights")
@role_required(Role.MANAGER)
def call_insights(call_id: int) -> Any:
    call = _call(call_id)
    data = insights.call_insights(call, programme_scope(), utcnow())
    return render_template("manage/insights_call.html", call=call, figures=figures_of_call(data),
                           computed_at=data.computed_at)


@bp.route("/calls/<int:call_id>/insights/report.pdf")
@role_required(Role.MANAGER)
def call_report_pdf(call_id: int) -> Any:
    call = _call(call_id)
    content = pdf_report(_("Report: %(call)s", call=call.text("title", _locale())), _report_subtitle(),
                         call_figures(call, programme_scope()))
    return _download(content, PDF_MIMETYPE, f"call-{call.id}-report.pdf")


@bp.route("/calls/<int:call_id>/insights/report.xlsx")
@role_required(Role.MANAGER)
def call_report_xlsx(call_id: int) -> Any:
    call = _call(call_id)
    content = xlsx_report(_("Report: %(call)s", call=call.text("title", _locale())),
                          call_figures(call, programme_scope()))
    return _download(content, XLSX_MIMETYPE, f"call-{call.id}-report.xlsx")


def _report_subtitle() -> str:
    return _("Made %(date)s", date=format_date(utcnow().date(), "d MMMM y", locale=_locale()))


def _year() -> int:
    return query_int("year", utcnow().year, minimum=FIRST_YEAR, maximum=LAST_YEAR)


@bp.route("/insights")
@role_required(Role.MANAGER)
def insights_overview() -> Any:
    year = _year()
    years = sorted({year, *insights.years_with_data()}, reverse=True)
    return render_template("manage/insights_overview.html", year=year, years=years,
                           figures=year_figures(year, programme_scope()))


@bp.route("/insights/report.pdf")
@role_required(Role.MANAGER)
def year_report_pdf() -> Any:
    year = _year()
    content = pdf_report(_("Report for %(year)d", year=year), _report_subtitle(),
                         year_figures(year, programme_scope()))
    return _download(content, PDF_MIMETYPE, f"report-{year}.pdf")


@bp.route("/insights/report.xlsx")
@role_required(Role.MANAGER)
def year_report_xlsx() -> Any:
    year = _year()
    content = xlsx_report(_("Report for %(year)d", year=year), year_figures(year, programme_scope()))
    return _download(content, XLSX_MIMETYPE, f"report-{year}.xlsx")
