"""Managers' residency pages: slot inventory, occupancy timeline and CSV, the match for a call
(preview, adjust, confirm offers) and the residencies' lifecycle."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    MonthField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, ValidationError

from incubator.database import utcnow
from incubator.domain import residency_matching as rm
from incubator.domain.applications import SPACE_TYPES
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, Offer, Programme, Residency, Site, Slot
from incubator.services import ServiceError, match_runs, residencies
from incubator.services import occupancy as occupancy_service
from incubator.services import offers as offer_service
from incubator.services import slots as slot_service
from incubator.web.access import role_required
from incubator.web.forms import form_status, show_service_error, translated_choices
from incubator.web.inputs import InputRefused, parse_id, query_int
from incubator.web.manage.routes import bp

REASONS = {
    rm.NO_PERIOD: _l("no desired start month or length in the application"),
    rm.NO_PROGRAMME_SLOT: _l("no slot in the programmes they ranked"),
    rm.NO_SPACE_TYPE: _l("no slot of their space type"),
    rm.NO_WINDOW: _l("no slot covering their start month and length"),
    rm.NO_CAPACITY: _l("no capacity in their window"),
    rm.OUTRANKED: _l("the places they could take went to startups ranked higher"),
}
MAX_TIMELINE_MONTHS = 36


# ---------------------------------------------------------------------------- slots


class SlotForm(FlaskForm):
    programme_id = SelectField(_l("Programme"), coerce=int, validators=[InputRequired(_l("Choose a programme."))])
    site_id = SelectField(_l("Site"), coerce=int, validators=[InputRequired(_l("Choose a site."))])
    label = StringField(_l("Name"), validators=[DataRequired(_l("Give the slot a name.")), Length(max=120)],
                        description=_l("E.g. \"Shared lab benches, 3rd floor\"."))
    space_type = SelectField(_l("Space type"), choices=translated_choices(SPACE_TYPES))
    capacity = IntegerField(_l("Places"), validators=[
        InputRequired(_l("Give the number of places.")),
        NumberRange(min=0, max=10_000, message=_l("Give a number of places from 0 to 10,000."))])
    first_month = MonthField(_l("First month"), validators=[InputRequired(_l("Give the first month (YYYY-MM)."))],
                             description=_l("Format: YYYY-MM"))
    last_month = MonthField(_l("Last month"), validators=[InputRequired(_l("Give the last month (YYYY-MM)."))],
                            description=_l("Format: YYYY-MM; the slot runs to the end of this month."))
    submit = SubmitField(_l("Save slot"))

    def set_choices(self) -> None:
        self.programme_id.choices = [(p.id, p.name) for p in db.session.scalars(select(Programme).order_by(Programme.name))]
        self.site_id.choices = [(s.id, f"{s.name}, {s.city}") for s in db.session.scalars(select(Site).order_by(Site.name))]

    def validate_last_month(self, field: MonthField) -> None:
        if field.data and self.first_month.data and field.data < self.first_month.data:
            raise ValidationError(_l("The last month must not be before the first month."))

    def data_for_service(self) -> slot_service.SlotData:
        return slot_service.SlotData(
            programme_id=self.programme_id.data, site_id=self.site_id.data, label=self.label.data or "",
            space_type=self.space_type.data, capacity=self.capacity.data,
            starts_on=rm.month_start(self.first_month.data),
            ends_on=rm.add_months(rm.month_start(self.last_month.data), 1))


class DeleteForm(FlaskForm):
    confirm = BooleanField(_l("Delete this slot for good"),
                           validators=[DataRequired(message=_l("Tick the box to confirm the deletion."))])
    submit = SubmitField(_l("Delete slot"))


def load_slot(slot_id: int) -> Slot:
    return db.session.get(Slot, slot_id) or abort(404)


@bp.route("/slots")
@role_required(Role.MANAGER)
def slots() -> Any:
    search = request.args.get("q", "").strip()[:100]
    programme = request.args.get("programme", "")
    programme_id = parse_id(programme)
    page = slot_service.slot_page(search=search, programme_id=programme_id,
                                  page=query_int("page", 1))
    programmes = db.session.scalars(select(Programme).order_by(Programme.name)).all()
    return render_template("manage/slots.html", page=page, search=search, programme_id=programme_id,
                           programmes=programmes, last_month=_last_month)


def _last_month(slot: Slot) -> dt.date:
    return slot.ends_on - dt.timedelta(days=1)


@bp.route("/slots/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new_slot() -> Any:
    form = SlotForm()
    form.set_choices()
    if form.validate_on_submit():
        try:
            slot = slot_service.create_slot(current_user, form.data_for_service())
        except ServiceError as error:
            show_service_error(form, error)
            return render_template("manage/slots_form.html", form=form, slot=None), 409
        flash(_("Slot “%(label)s” created.", label=slot.label), "success")
        return redirect(url_for("manage.slots"))
    return render_template("manage/slots_form.html", form=form, slot=None), form_status(form)


@bp.route("/slots/<int:slot_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit_slot(slot_id: int) -> Any:
    slot = load_slot(slot_id)
    form = SlotForm(obj=slot) if request.method == "GET" else SlotForm()
    form.set_choices()
    if request.method == "GET":
        form.first_month.data, form.last_month.data = slot.starts_on, _last_month(slot)
    elif form.validate_on_submit():
        try:
            slot_service.update_slot(current_user, slot, form.data_for_service())
        except ServiceError as error:
            show_service_error(form, error)
            return render_template("manage/slots_form.html", form=form, slot=load_slot(slot_id),
                                   delete_form=DeleteForm()), 409
        flash(_("Slot saved."), "success")
        return redirect(url_for("manage.slots"))
    return render_template("manage/slots_form.html", form=form, slot=slot, delete_form=DeleteForm()), form_status(form)


@bp.route("/slots/<int:slot_id>/delete", methods=["GET"])
@role_required(Role.MANAGER)
def confirm_delete_slot(slot_id: int) -> Any:
    """The confirmation step before a deletion that cannot be undone."""
    return render_template("manage/slot_delete.html", slot=load_slot(slot_id), form=DeleteForm())


@bp.route("/slots/<int:slot_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_slot(slot_id: int) -> Any:
    slot = load_slot(slot_id)
    form = DeleteForm()
    if not form.validate_on_submit():
        return render_template("manage/slot_delete.html", slot=slot, form=form), 400
    try:
        slot_service.delete_slot(current_user, slot)
    except ServiceError as error:
        return render_template("errors/error.html", code=409, title=_("Slot not deleted"), message=error.message), 409
    flash(_("Slot deleted."), "info")
    return redirect(url_for("manage.slots"))


# ---------------------------------------------------------------------------- occupancy


def _occupancy_arguments() -> dict[str, Any] | str:
    """The timeline's query string, or a message saying what is wrong with it."""
    args: dict[str, Any] = {}
    today = utcnow().date().replace(day=1)
    start = request.args.get("start", "")
    try:
        args["start_month"] = dt.datetime.strptime(start, "%Y-%m").date() if start else today
    except ValueError:
        return _("Give the first month as YYYY-MM.")
    try:
        args["months"] = query_int("months", 12, maximum=MAX_TIMELINE_MONTHS)
    except InputRefused:
        return _("Show between 1 and %(max)d months.", max=MAX_TIMELINE_MONTHS)
    for name in ("programme", "site"):
        try:
            value = query_int(name, 0)
        except InputRefused:
            return _("Choose a programme and a site from the lists.")
        args[f"{name}_id"] = value or None
    return args


@bp.route("/occupancy")
@role_required(Role.MANAGER)
def occupancy() -> Any:
    args = _occupancy_arguments()
    programmes = db.session.scalars(select(Programme).order_by(Programme.name)).all()
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    if isinstance(args, str):
        return render_template("manage/residencies_occupancy.html", data=None, error=args, programmes=programmes,
                               sites=sites, args=request.args), 400
    data = occupancy_service.occupancy(**args, page=max(request.args.get("page", 1, type=int) or 1, 1))
    return render_template("manage/residencies_occupancy.html", data=data, error=None, programmes=programmes,
                           sites=sites, args=request.args)


def occupancy_csv_labels() -> dict[str, str]:
    """The occupancy CSV's column headers in the reader's language."""
    return {
        "programme": _("Programme"), "site": _("Site"), "slot": _("Slot"), "space_type": _("Space type"),
        "month": _("Month"), "capacity": _("Capacity"), "residents": _("Residents"), "offered": _("Offered"),
        "free": _("Free"), "utilisation": _("Utilisation"),
    }


@bp.route("/occupancy.csv")
@role_required(Role.MANAGER)
def occupancy_csv() -> Any:
    args = _occupancy_arguments()
    if isinstance(args, str):
        return render_template("errors/error.html", code=400, title=_("Cannot export"), message=args), 400
    rows = occupancy_service.occupancy_csv(occupancy_service.occupancy_pages(**args), labels=occupancy_csv_labels())
    return Response(stream_with_context(rows), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=occupancy-{args['start_month']:%Y-%m}.csv"})


# ---------------------------------------------------------------------------- the match


class MatchForm(FlaskForm):
    """Confirm the stored run: its placements become offers."""

    include_waitlisted = HiddenField()
    response_days = IntegerField(_l("Days to answer"), default=offer_service.DEFAULT_RESPONSE_DAYS, validators=[
        InputRequired(_l("Give the number of days startups have to answer.")),
        NumberRange(min=1, max=offer_service.MAX_RESPONSE_DAYS,
                    message=_l("Give between 1 and %(max)d days.", max=offer_service.MAX_RESPONSE_DAYS))])
    confirm = SubmitField(_l("Confirm and send the offers"))


class ComputeMatchForm(FlaskForm):
    include_waitlisted = HiddenField()
    compute = SubmitField(_l("Compute the match"))


class AdjustForm(FlaskForm):
    """Move one startup: picked by application number, the slot by its number or exact name."""

    include_waitlisted = HiddenField()
    application_id = IntegerField(_l("Application number"), validators=[
        InputRequired(_l("Give the application number from the list."))])
    slot = StringField(_l("Slot (number or exact name; empty for no place)"), validators=[Length(max=120)])
    move = SubmitField(_l("Move"))


class WithdrawOfferForm(FlaskForm):
    submit = SubmitField(_l("Withdraw"))


OFFERS_SHOWN = 50


def load_call(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


def _waitlisted(form_value: str | None = None) -> bool:
    return (form_value if form_value is not None else request.args.get("waitlisted")) == "1"


def _render_match(call: Call, waitlisted: bool, status: int = 200, error: str | None = None,
                  form: MatchForm | None = None, adjust_form: AdjustForm | None = None) -> Any:
    run = match_runs.latest_run(call, include_waitlisted=waitlisted)
    flag = "1" if waitlisted else ""
    after = request.args.get("after", type=int)
    search = request.args.get("q", "").strip()[:100]
    only = request.args.get("only", "")
    page = match_runs.run_page(run, after=after, search=search, only=only) if run else None
    offers, offer_count = offer_service.recent_offers_for_call(call, OFFERS_SHOWN)
    adjust_form = adjust_form or AdjustForm(include_waitlisted=flag)
    # static/js/suggest.js suggests slots from the server as the manager types.
    adjust_form.slot.render_kw = {"list": "slot-suggestions", "autocomplete": "off",
                                  "data-suggest": url_for("manage.call_slots_json", call_id=call.id)}
    return render_template(
        "manage/match.html", call=call, run=run, stale=bool(run and match_runs.is_stale(run)), page=page,
        waitlisted=waitlisted, search=search, only=only, after=after, reasons=REASONS,
        unreleased=match_runs.unreleased_count(call), offers=offers, offer_count=offer_count,
        form=form or MatchForm(include_waitlisted=flag), adjust_form=adjust_form,
        compute_form=ComputeMatchForm(include_waitlisted=flag), withdraw_form=WithdrawOfferForm(), error=error,
    ), status


@bp.route("/calls/<int:call_id>/match")
@role_required(Role.MANAGER)
def match(call_id: int) -> Any:
    return _render_match(load_call(call_id), _waitlisted())


@bp.route("/calls/<int:call_id>/match/compute", methods=["POST"])
@role_required(Role.MANAGER)
def compute_match(call_id: int) -> Any:
    call = load_call(call_id)
    form = ComputeMatchForm()
    waitlisted = _waitlisted(form.include_waitlisted.data)
    if not form.validate_on_submit():
        return _render_match(call, waitlisted, 400, _("The form expired; reload the page and try again."))
    run = match_runs.compute_run(current_user, call, utcnow(), include_waitlisted=waitlisted)
    flash(_("Match computed: %(placed)d placed, %(unmatched)d without a place.", placed=run.placed,
            unmatched=run.unmatched), "success")
    return redirect(url_for("manage.match", call_id=call.id, waitlisted=1 if waitlisted else None))


def _slot_named(call: Call, text: str) -> Slot | None | str:
    """The slot the manager typed (number or exact name), None for no place, or a message."""
    text = text.strip()
    if not text:
        return None
    programme_ids = [offered.programme_id for offered in call.programmes]
    query = select(Slot).where(Slot.programme_id.in_(programme_ids))
    if text.isascii() and text.isdigit():
        found = db.session.scalars(query.where(Slot.id == parse_id(text))).all()
    else:
        found = db.session.scalars(query.where(func.lower(Slot.label) == text.lower()).limit(2)).all()
    if len(found) == 1:
        return found[0]
    if found:
        return _("Several slots are named %(name)s; give the slot's number instead.", name=text)
    return _("No slot of this call's programmes is called %(name)s.", name=text)


@bp.route("/calls/<int:call_id>/slots.json")
@role_required(Role.MANAGER)
def call_slots_json(call_id: int) -> Any:
    """Up to 20 of the call's slots matching ``q``: what static/js/suggest.js suggests as the
    manager types, so no page carries a list of every slot."""
    call = load_call(call_id)
    found = slot_service.find_call_slots([offered.programme_id for offered in call.programmes],
                                         request.args.get("q", "")[:100])
    return jsonify([{"id": slot.id, "label": slot.label, "value": f"{slot.id}"} for slot in found])


@bp.route("/calls/<int:call_id>/match/adjust", methods=["POST"])
@role_required(Role.MANAGER)
def adjust_match(call_id: int) -> Any:
    call = load_call(call_id)
    form = AdjustForm()
    waitlisted = _waitlisted(form.include_waitlisted.data)
    if not form.validate_on_submit():
        return _render_match(call, waitlisted, 400, adjust_form=form)
    run = match_runs.latest_run(call, include_waitlisted=waitlisted)
    if run is None:
        return _render_match(call, waitlisted, 409, _("Compute the match before adjusting it."), adjust_form=form)
    slot = _slot_named(call, form.slot.data or "")
    if isinstance(slot, str):
        form.slot.errors = [slot]
        return _render_match(call, waitlisted, 400, adjust_form=form)
    try:
        match_runs.adjust_placement(current_user, run, form.application_id.data, slot)
    except ServiceError as error:
        db.session.rollback()
        return _render_match(call, waitlisted, 409, error.message, adjust_form=form)
    flash(_("Placement changed."), "success")
    return redirect(url_for("manage.match", call_id=call.id, waitlisted=1 if waitlisted else None))


def _render_offer_confirmation(run: Any, form: MatchForm, status: int, error: str | None) -> Any:
    """What confirming sends: the number of offers and the first page of them."""
    page = match_runs.run_page(run, only="placed")
    return render_template("manage/match_confirm.html", call=run.call, run=run, form=form, page=page,
                           error=error), status


@bp.route("/calls/<int:call_id>/match", methods=["POST"])
@role_required(Role.MANAGER)
def match_post(call_id: int) -> Any:
    call = load_call(call_id)
    form = MatchForm()
    waitlisted = _waitlisted(form.include_waitlisted.data)
    if not form.validate_on_submit():
        return _render_match(call, waitlisted, 400, form=form)
    run = match_runs.latest_run(call, include_waitlisted=waitlisted)
    if run is None:
        return _render_match(call, waitlisted, 409, _("Compute the match before confirming it."), form=form)
    try:
        if request.form.get("confirmed") != "y" or request.form.get("run_id") != str(run.id):
            # Offers go out at once and cannot be unsent: confirm on a page of their own first,
            # and only the run that page showed (a newer computation needs a new look).
            asked = request.form.get("from_confirmation") == "1"
            message = None
            if asked:
                message = (_("Tick the box to confirm sending the offers.")
                           if request.form.get("run_id") == str(run.id)
                           else _("The match was computed again since; check these offers."))
            return _render_offer_confirmation(run, form, 400 if asked else 200, message)
        offers = offer_service.confirm_run(current_user, run, form.response_days.data, utcnow())
    except ServiceError as error:
        db.session.rollback()
        return _render_match(call, waitlisted, 409, error.message, form=form)
    flash(_("%(count)d offers sent; each startup has %(days)d days to answer.", count=len(offers),
            days=form.response_days.data), "success")
    return redirect(url_for("manage.match", call_id=call.id))


@bp.route("/offers/<int:offer_id>/withdraw", methods=["POST"])
@role_required(Role.MANAGER)
def withdraw_offer(offer_id: int) -> Any:
    offer = db.session.get(Offer, offer_id) or abort(404)
    if not WithdrawOfferForm().validate_on_submit():
        abort(400)
    try:
        offer_service.withdraw_offer(current_user, offer, utcnow())
    except ServiceError as error:
        return render_template("errors/error.html", code=409, title=_("Offer not withdrawn"),
                               message=error.message), 409
    flash(_("Offer withdrawn; the place is free again."), "info")
    return redirect(url_for("manage.match", call_id=offer.application.call_id))


# ---------------------------------------------------------------------------- residencies


class EndEarlyForm(FlaskForm):
    ended_on = DateField(_l("Leaves on"), validators=[InputRequired(_l("Give the date the startup leaves."))])
    submit = SubmitField(_l("End early"))


class ExtendForm(FlaskForm):
    months = IntegerField(_l("Extra months"), validators=[
        InputRequired(_l("Give the number of months.")),
        NumberRange(min=1, max=36, message=_l("Extend by 1 to 36 months."))])
    submit = SubmitField(_l("Extend"))


class CompleteForm(FlaskForm):
    submit = SubmitField(_l("Mark completed"))


def _render_residencies(status: int = 200, error: str | None = None) -> Any:
    search = request.args.get("q", "").strip()[:100]
    slot = request.args.get("slot", "")
    state = request.args.get("state", "")
    page = residencies.residency_page(search=search, slot_id=parse_id(slot), state=state,
                                      after=request.args.get("after"))
    return render_template("manage/residencies.html", page=page, search=search, slot=slot, state=state,
                           after=request.args.get("after"), error=error, end_form=EndEarlyForm(),
                           extend_form=ExtendForm(), complete_form=CompleteForm(), today=utcnow().date()), status


@bp.route("/residencies")
@role_required(Role.MANAGER)
def residencies_page() -> Any:
    return _render_residencies()


def _change_residency(residency_id: int, form: FlaskForm, change: Any, done: str) -> Any:
    residency = db.session.get(Residency, residency_id) or abort(404)
    if not form.validate_on_submit():
        messages = [m for errors in form.errors.values() for m in errors]
        return _render_residencies(400, " ".join(str(m) for m in messages))
    try:
        change(residency)
    except ServiceError as error:
        db.session.rollback()
        return _render_residencies(409, error.message)
    flash(done, "success")
    return redirect(url_for("manage.residencies_page"))


@bp.route("/residencies/<int:residency_id>/end", methods=["POST"])
@role_required(Role.MANAGER)
def end_residency(residency_id: int) -> Any:
    form = EndEarlyForm()
    return _change_residency(residency_id, form, lambda r: residencies.end_residency_early(
        current_user, r, form.ended_on.data, utcnow()), _("Residency ended early."))


@bp.route("/residencies/<int:residency_id>/extend", methods=["POST"])
@role_required(Role.MANAGER)
def extend_residency(residency_id: int) -> Any:
    form = ExtendForm()
    return _change_residency(residency_id, form, lambda r: residencies.extend_residency(
        current_user, r, form.months.data, utcnow()), _("Residency extended."))


@bp.route("/residencies/<int:residency_id>/complete", methods=["POST"])
@role_required(Role.MANAGER)
def complete_residency(residency_id: int) -> Any:
    return _change_residency(residency_id, CompleteForm(), lambda r: residencies.complete_residency(
        current_user, r, utcnow()), _("Residency marked completed."))
