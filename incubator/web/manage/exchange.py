"""The exchange report: per year, startups sent to Sweden and received from it, and their months."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask import Response, abort, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Programme
from incubator.services.exchange import ExchangeYear, exchange_balance
from incubator.web.access import role_required
from incubator.web.inputs import query_int
from incubator.web.manage.routes import bp


def _chosen_programme() -> Programme | None:
    """The programme the report is limited to (``?programme=``), or None for all; 404 for one
    the reader may not see."""
    if not request.args.get("programme", "").strip():
        return None
    return db.session.get(Programme, query_int("programme", 0)) or abort(404)


def _rows() -> tuple[Programme | None, list[ExchangeYear]]:
    programme = _chosen_programme()
    return programme, exchange_balance([programme.id] if programme else None)


@bp.route("/exchange")
@role_required(Role.MANAGER)
def exchange() -> Any:
    programme, years = _rows()
    programmes = db.session.scalars(select(Programme).order_by(Programme.name)).all()
    return render_template("manage/exchange.html", years=years, programme=programme, programmes=programmes)


def exchange_csv_labels() -> list[str]:
    return [_("Year"), _("Startups sent (NO to SE)"), _("Months sent"), _("Startups received (SE to NO)"),
            _("Months received"), _("Balance (sent minus received)")]


@bp.route("/exchange.csv")
@role_required(Role.MANAGER)
def exchange_csv() -> Any:
    programme, years = _rows()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(exchange_csv_labels())
    for year in years:  # numbers only: nothing a spreadsheet could run as a formula
        writer.writerow([year.year, year.sent, year.sent_months, year.received, year.received_months, year.balance])
    suffix = f"-{programme.slug}" if programme else ""
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=exchange{suffix}.csv"})
