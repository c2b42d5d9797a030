"""Bidding: pool reviewers say which of a call's applications they want to review.

Only while the call's bidding window is open, and only for calls whose pool holds the
reviewer; everything else is "not found", so ids reveal nothing.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, Optional

from incubator.database import utcnow
from incubator.domain.applications import FOCUS_AREAS
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call
from incubator.services import ServiceError, pools
from incubator.web.access import role_required
from incubator.web.review.routes import bp

PAGE_SIZE = 20
BID_CHOICES = [("eager", _l("Eager")), ("willing", _l("Willing")), ("not_willing", _l("Not willing")),
               ("conflict", _l("Conflict of interest"))]


class BidForm(FlaskForm):
    level = SelectField(_l("Your bid"), choices=BID_CHOICES, validators=[DataRequired(message=_l("Choose a bid."))])
    reason = StringField(_l("Reason for a conflict"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Save bid"))


@bp.route("/bidding")
@role_required(Role.REVIEWER)
def bidding_calls() -> Any:
    return render_template("review/bidding_calls.html", calls=pools.calls_open_for_bidding(current_user, utcnow()))


def _bidding_call(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None or pools.pool_entry_of(call.id, current_user.id) is None:
        abort(404)
    return call


@bp.route("/calls/<int:call_id>/bids")
@role_required(Role.REVIEWER)
def bids(call_id: int) -> Any:
    call = _bidding_call(call_id)
    return _render_bids(call)


def _render_bids(call: Call, status: int = 200, error: str | None = None) -> Any:
    focus = request.args.get("focus") or ""
    if focus and focus not in FOCUS_AREAS:
        focus, error, status = "", _("Unknown focus area; showing all."), 400
    text = (request.args.get("q") or "").strip()[:100]
    page = db.paginate(pools.biddable_query(current_user, call, focus_area=focus or None, text=text),
                       page=max(request.args.get("page", 1, type=int) or 1, 1), per_page=PAGE_SIZE, error_out=False)
    applications: list[Application] = list(page.items)
    return render_template("review/bids.html", call=call, page=page, applications=applications,
                           bids=pools.bids_of(current_user, [a.id for a in applications]), focus=focus, q=text,
                           focus_areas=FOCUS_AREAS, form=BidForm(formdata=None), error=error,
                           bidding_open=call.bidding_is_open(utcnow())), status


@bp.route("/calls/<int:call_id>/bids/<int:application_id>", methods=["POST"])
@role_required(Role.REVIEWER)
def place_bid(call_id: int, application_id: int) -> Any:
    call = _bidding_call(call_id)
    application = db.session.get(Application, application_id)
    if application is None or application.call_id != call.id:
        abort(404)
    form = BidForm()
    if not form.validate_on_submit():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors) or _("Choose a bid.")
        return _render_bids(call, 400, message)
    try:
        pools.place_bid(current_user, application, form.level.data or "", utcnow(), reason=form.reason.data or "")
    except ServiceError as error:
        db.session.rollback()
        return _render_bids(call, 409 if isinstance(error, pools.PoolRefused) else 400,
                            f"{application.company_name}: {error.message}")
    flash(_("Bid on %(name)s saved.", name=application.company_name), "success")
    return redirect(url_for("review.bids", call_id=call.id, page=request.args.get("page", type=int),
                            focus=request.args.get("focus") or None, q=request.args.get("q") or None))
