"""A call's reviewer pool: who reviews, with which loads, their workload, and the bidding window."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, EmailField, HiddenField, IntegerField, StringField, SubmitField
from wtforms.validators import DataRequired, Email, InputRequired, Length, NumberRange, Optional

from incubator.database import utcnow
from incubator.domain.reminders import zone_of
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, CallReviewer, User
from incubator.services import ServiceError, pools
from incubator.web.access import role_required
from incubator.web.forms import show_service_error
from incubator.web.inputs import parse_id, query_int
from incubator.web.manage.routes import bp

PAGE_SIZE = 25


class AddReviewerForm(FlaskForm):
    reviewer_id = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Add to pool"))


class InviteReviewerForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter the reviewer's name.")),
                                              Length(max=120)])
    email = EmailField(_l("Email"), validators=[
        DataRequired(message=_l("Enter an email address.")), Length(max=254),
        Email(message=_l("Enter a valid email address, like name@example.com."), check_deliverability=False)])
    submit = SubmitField(_l("Invite and add to pool"))


class LoadsForm(FlaskForm):
    min_load = IntegerField(_l("Minimum"), validators=[
        InputRequired(message=_l("Enter a minimum load (0 for none).")),
        NumberRange(min=0, max=pools.MAX_LOAD_LIMIT)])
    max_load = IntegerField(_l("Maximum"), validators=[
        InputRequired(message=_l("Enter a maximum load.")), NumberRange(min=0, max=pools.MAX_LOAD_LIMIT)])
    submit = SubmitField(_l("Save loads"))


class RemoveForm(FlaskForm):
    submit = SubmitField(_l("Remove"))


class BiddingWindowForm(FlaskForm):
    bidding_opens = DateTimeLocalField(_l("Bidding opens"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    bidding_closes = DateTimeLocalField(_l("Bidding closes"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    submit = SubmitField(_l("Save bidding window"))


def load_call(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


def load_entry(call: Call, entry_id: int) -> CallReviewer:
    return pools.pool_entry(call, entry_id) or abort(404)


def _page_number(name: str = "page") -> int:
    """A bounded page number: a huge one made PostgreSQL refuse the OFFSET (a 500)."""
    return query_int(name, 1)


def _window_form(call: Call) -> BiddingWindowForm:
    zone = zone_of(call.timezone)

    def local(value: dt.datetime | None) -> dt.datetime | None:
        return value.astimezone(zone).replace(tzinfo=None) if value else None

    return BiddingWindowForm(data={"bidding_opens": local(call.bidding_opens),
                                   "bidding_closes": local(call.bidding_closes)})


def _render(call: Call, status: int = 200, refused_loads: tuple[int, LoadsForm] | None = None,
            **forms: Any) -> Any:
    page = db.paginate(pools.pool_query(call), page=_page_number(), per_page=PAGE_SIZE, error_out=False)
    entries: list[CallReviewer] = list(page.items)
    loads = pools.workloads([entry.reviewer_id for entry in entries], utcnow())
    query = (request.args.get("q") or "").strip()
    search_page, search_error = None, None
    if query:
        try:
            search_page = db.paginate(pools.reviewer_search_query(call, query),
                                      page=_page_number("search_page"),
                                      per_page=PAGE_SIZE, error_out=False)
        except ServiceError as error:
            search_error = error.message
    context = {
        "call": call, "page": page, "entries": entries, "loads": loads, "workload": pools.Workload(),
        "query": query, "search_page": search_page, "search_error": search_error,
        "add_form": AddReviewerForm(), "invite_form": InviteReviewerForm(),
        "loads_forms": {entry.id: LoadsForm(prefix=f"e{entry.id}", data={"min_load": entry.min_load,
                                                                         "max_load": entry.max_load})
                        for entry in entries},
        "remove_form": RemoveForm(), "window_form": _window_form(call),
    }
    context.update(forms)
    if refused_loads is not None:  # kept as typed, errors included, where its row is on this page
        context["loads_forms"][refused_loads[0]] = refused_loads[1]
    if search_error is not None and status == 200:
        status = 400
    return render_template("manage/pool.html", **context), status


@bp.route("/calls/<int:call_id>/pool")
@role_required(Role.MANAGER)
def pool(call_id: int) -> Any:
    return _render(load_call(call_id))


def _back(call: Call) -> Any:
    return redirect(url_for("manage.pool", call_id=call.id))


@bp.route("/calls/<int:call_id>/pool/add", methods=["POST"])
@role_required(Role.MANAGER)
def pool_add(call_id: int) -> Any:
    call = load_call(call_id)
    form = AddReviewerForm()
    reviewer_id = parse_id(form.reviewer_id.data or "")
    if not form.validate_on_submit() or reviewer_id is None:
        form.form_errors.append(_("Choose a reviewer from the search results."))
        return _render(call, 400, add_form=form)
    reviewer = db.session.get(User, reviewer_id) or abort(404)
    try:
        pools.add_to_pool(current_user, call, reviewer, utcnow())
    except ServiceError as error:
        show_service_error(form, error)
        form.form_errors.extend(form.reviewer_id.errors)
        return _render(call, 409 if isinstance(error, pools.PoolRefused) else 400, add_form=form)
    flash(_("%(name)s is in the reviewer pool.", name=reviewer.name), "success")
    return _back(call)


@bp.route("/calls/<int:call_id>/pool/invite", methods=["POST"])
@role_required(Role.MANAGER)
def pool_invite(call_id: int) -> Any:
    call = load_call(call_id)
    form = InviteReviewerForm()
    if form.validate_on_submit():
        try:
            entry = pools.invite_to_pool(current_user, call, form.email.data or "", form.name.data or "", utcnow())
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Invitation sent to %(email)s; they are in the reviewer pool.", email=entry.reviewer.email),
                  "success")
            return _back(call)
    return _render(call, 400, invite_form=form)


@bp.route("/calls/<int:call_id>/pool/<int:entry_id>/loads", methods=["POST"])
@role_required(Role.MANAGER)
def pool_loads(call_id: int, entry_id: int) -> Any:
    call = load_call(call_id)
    entry = load_entry(call, entry_id)
    form = LoadsForm(prefix=f"e{entry.id}")
    status = 400
    if form.validate_on_submit():
        try:
            pools.set_pool_loads(current_user, entry, form.min_load.data or 0, form.max_load.data or 0)
        except ServiceError as error:
            status = 409 if isinstance(error, pools.PoolRefused) else 400
            show_service_error(form, error)
        else:
            flash(_("Loads of %(name)s saved.", name=entry.reviewer.name), "success")
            return _back(call)
    entry = load_entry(call, entry_id)  # the rollback expired it
    # Only the page's rows get forms (a pool may be large); the refused one replaces its row's.
    errors = [*form.form_errors, *(e for field_errors in form.errors.values() for e in field_errors)]
    return _render(call, status, refused_loads=(entry.id, form), loads_error=errors)


@bp.route("/calls/<int:call_id>/pool/<int:entry_id>/remove", methods=["POST"])
@role_required(Role.MANAGER)
def pool_remove(call_id: int, entry_id: int) -> Any:
    call = load_call(call_id)
    entry = load_entry(call, entry_id)
    form = RemoveForm()
    if not form.validate_on_submit():
        abort(400)
    name = entry.reviewer.name
    try:
        pools.remove_from_pool(current_user, entry)
    except ServiceError as error:
        show_service_error(form, error)
        return _render(call, 409, remove_form=form)
    flash(_("%(name)s left the reviewer pool.", name=name), "info")
    return _back(call)


@bp.route("/calls/<int:call_id>/pool/bidding", methods=["POST"])
@role_required(Role.MANAGER)
def pool_bidding(call_id: int) -> Any:
    call = load_call(call_id)
    form = BiddingWindowForm()
    if form.validate_on_submit():
        zone = zone_of(call.timezone)

        def aware(value: dt.datetime | None) -> dt.datetime | None:
            return value.replace(tzinfo=zone).astimezone(dt.UTC) if value else None

        try:
            pools.set_bidding_window(current_user, call, aware(form.bidding_opens.data),
                                     aware(form.bidding_closes.data))
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Bidding window saved."), "success")
            return _back(call)
    return _render(call, 400, window_form=form)
