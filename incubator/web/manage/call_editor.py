"""Managers list, create, edit, clone, preview and publish calls, and move them through the
lifecycle. The rules live in services.calls; these views load, check access and show reasons."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from incubator.database import utcnow
from incubator.domain.applications import STEPS
from incubator.domain.calls import is_known_timezone, parse_countries
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, CallProgramme, Programme
from incubator.models.programmes import CALL_TEXT_LOCALES, TRANSLATED_CALL_TEXTS
from incubator.services import ServiceError
from incubator.services import calls as service
from incubator.web.access import role_required
from incubator.web.apply.forms import STEP_FORMS, PreferencesForm
from incubator.web.forms import form_status, show_service_error
from incubator.web.manage.calls import LifecycleForm, call_hub_page, load_call
from incubator.web.manage.routes import CALL_STATE_LABELS, bp

PAGE_SIZE = 25
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


class OfferedRow(Form):
    programme_id = HiddenField()
    offered = BooleanField(_l("Offered in this call"))
    eligible_countries = StringField(_l("Eligible countries (codes, empty = anywhere)"),
                                     validators=[Optional(), Length(max=200)])
    eligibility_note = StringField(_l("Eligibility note"), validators=[Optional(), Length(max=500)])


class CallForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(message=_l("Give the call a title.")), Length(max=200)])
    slug = StringField(_l("Slug (web address)"), validators=[DataRequired(message=_l("Give the call a slug.")),
                                                             Length(max=80)],
                       description=_l("Lowercase letters, digits and hyphens, like spring-intake-2027."))
    description = TextAreaField(_l("Description"), validators=[Length(max=20000)], render_kw={"rows": 6},
                                description=_l("Markdown: **bold**, lists, links. HTML is not allowed."))
    eligibility_summary = TextAreaField(_l("Who can apply"), validators=[Length(max=5000)], render_kw={"rows": 2})
    # The same texts in Norwegian and Swedish; empty ones show the main text to those readers.
    title_nb = StringField(_l("Title in Norwegian (bokmål)"), validators=[Optional(), Length(max=200)])
    description_nb = TextAreaField(_l("Description in Norwegian (bokmål)"), validators=[Length(max=20000)],
                                   render_kw={"rows": 4},
                                   description=_l("Markdown: **bold**, lists, links. HTML is not allowed."))
    eligibility_summary_nb = TextAreaField(_l("Who can apply, in Norwegian (bokmål)"),
                                           validators=[Length(max=5000)], render_kw={"rows": 2})
    title_sv = StringField(_l("Title in Swedish"), validators=[Optional(), Length(max=200)])
    description_sv = TextAreaField(_l("Description in Swedish"), validators=[Length(max=20000)],
                                   render_kw={"rows": 4},
                                   description=_l("Markdown: **bold**, lists, links. HTML is not allowed."))
    eligibility_summary_sv = TextAreaField(_l("Who can apply, in Swedish"), validators=[Length(max=5000)],
                                           render_kw={"rows": 2})
    timezone = StringField(_l("Time zone"), default="Europe/Oslo",
                           validators=[DataRequired(message=_l("Give the time zone.")), Length(max=64)],
                           description=_l("Dates below are in this time zone."))
    opens_at = DateTimeLocalField(_l("Opens"), format=LOCAL_FORMAT,
                                  validators=[InputRequired(message=_l("Give the opening time."))])
    closes_at = DateTimeLocalField(_l("Closes"), format=LOCAL_FORMAT,
                                   validators=[InputRequired(message=_l("Give the closing time."))])
    review_deadline = DateTimeLocalField(_l("Reviews due"), format=LOCAL_FORMAT, validators=[Optional()])
    decision_date = DateField(_l("Decision date"), validators=[Optional()])
    reviewers_per_application = IntegerField(_l("Reviewers per application"), default=3,
                                             validators=[InputRequired(message=_l("Give a number of reviewers."))])
    disagreement_threshold = DecimalField(_l("Disagreement threshold (standard deviation)"), default=Decimal("1.00"),
                                          places=2, validators=[InputRequired(message=_l("Give a threshold."))])
    programmes = FieldList(FormField(OfferedRow))
    submit = SubmitField(_l("Save call"))


class CloneForm(FlaskForm):
    title = StringField(_l("Title of the new call"),
                        validators=[DataRequired(message=_l("Give the new call a title.")), Length(max=200)])
    slug = StringField(_l("Slug of the new call"),
                       validators=[DataRequired(message=_l("Give the new call a slug.")), Length(max=80)])
    submit = SubmitField(_l("Clone into a new draft"))


def _page_number() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.route("/calls")
@role_required(Role.MANAGER)
def calls() -> Any:
    query = select(Call).order_by(Call.opens_at.desc(), Call.id.desc())
    page = db.paginate(query, page=_page_number(), per_page=PAGE_SIZE, error_out=False)
    return render_template("manage/calls.html", page=page, state_labels=CALL_STATE_LABELS)


def _to_utc(local: dt.datetime | None, zone: str) -> dt.datetime | None:
    if local is None:
        return None
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


def _to_local(value: dt.datetime | None, zone: str) -> dt.datetime | None:
    return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None) if value is not None else None


def _programme_rows(call: Call | None) -> list[dict[str, Any]]:
    """One row per programme: the call's own first, in its order, then the others, unticked."""
    offered = {row.programme_id: row for row in call.programmes} if call else {}
    everything = db.session.scalars(select(Programme).order_by(Programme.name)).all()
    ordered = [row.programme for row in call.programmes] if call else []
    ordered += [programme for programme in everything if programme.id not in offered]
    rows = []
    for programme in ordered:
        row: CallProgramme | None = offered.get(programme.id)
        rows.append({"programme_id": str(programme.id), "offered": row is not None,
                     "eligible_countries": ", ".join(row.eligible_countries) if row else "",
                     "eligibility_note": row.eligibility_note if row else ""})
    return rows


def _form_data(call: Call) -> dict[str, Any]:
    zone = call.timezone
    return {"title": call.title, "slug": call.slug, "description": call.description,
            "eligibility_summary": call.eligibility_summary, "timezone": zone,
            "opens_at": _to_local(call.opens_at, zone), "closes_at": _to_local(call.closes_at, zone),
            "review_deadline": _to_local(call.review_deadline, zone), "decision_date": call.decision_date,
            "reviewers_per_application": call.reviewers_per_application,
            "disagreement_threshold": call.disagreement_threshold, "programmes": _programme_rows(call),
            **{f"{name}_{locale}": (call.translations or {}).get(locale, {}).get(name, "")
               for locale in CALL_TEXT_LOCALES for name in TRANSLATED_CALL_TEXTS}}


def _translations(form: CallForm) -> dict[str, dict[str, str]]:
    return {locale: {name: form[f"{name}_{locale}"].data or "" for name in TRANSLATED_CALL_TEXTS}
            for locale in CALL_TEXT_LOCALES}


def _call_input(form: CallForm) -> service.CallInput:
    zone = (form.timezone.data or "").strip()
    if not is_known_timezone(zone):
        raise ServiceError(_("%(zone)s is not a time zone name; use one like Europe/Oslo.", zone=zone),
                           field="timezone")
    offered = []
    for row in form.programmes:
        if not row.form.offered.data:
            continue
        try:
            programme_id = int(row.form.programme_id.data or "")
        except ValueError as error:
            raise ServiceError(_("The list of programmes was changed; reload the page.")) from error
        offered.append(service.OfferedProgramme(programme_id=programme_id,
                                                eligible_countries=parse_countries(row.form.eligible_countries.data
                                                                                   or ""),
                                                eligibility_note=row.form.eligibility_note.data or ""))
    return service.CallInput(
        title=form.title.data or "", slug=(form.slug.data or "").strip(), description=form.description.data or "",
        eligibility_summary=form.eligibility_summary.data or "", timezone=zone,
        opens_at=_to_utc(form.opens_at.data, zone), closes_at=_to_utc(form.closes_at.data, zone),
        review_deadline=_to_utc(form.review_deadline.data, zone), decision_date=form.decision_date.data,
        reviewers_per_application=form.reviewers_per_application.data,
        disagreement_threshold=form.disagreement_threshold.data, programmes=offered,
        translations=_translations(form))


def _keep_unchanged_times(item: service.CallInput, call: Call) -> service.CallInput:
    """The form shows times to the minute; a time sent back unchanged keeps its stored seconds,
    so re-saving an opened call is not mistaken for moving its opening."""
    changes = {}
    for name in ("opens_at", "closes_at", "review_deadline"):
        stored, sent = getattr(call, name), getattr(item, name)
        if stored is not None and sent is not None and stored.replace(second=0, microsecond=0) == sent:
            changes[name] = stored
    return dataclasses.replace(item, **changes)


def _programme_names() -> dict[str, str]:
    return {str(p.id): p.name for p in db.session.scalars(select(Programme))}


def _render_call_form(form: CallForm, call: Call | None, status: int) -> Any:
    return render_template("manage/call_form.html", form=form, call=call, programme_names=_programme_names()), status


def _save(form: CallForm, call: Call | None) -> Any:
    """Validate and save; a refusal comes back on the form with its reason (400, or 409 when
    the call's state or the work done in it is the reason)."""
    if not form.validate_on_submit():
        return _render_call_form(form, call, form_status(form))
    try:
        item = _call_input(form)
        saved = service.create_call(current_user, item) if call is None else \
            service.update_call(current_user, call, _keep_unchanged_times(item, call), utcnow())
    except ServiceError as error:
        show_service_error(form, error)
        return _render_call_form(form, call, 409 if isinstance(error, service.CallConflict) else 400)
    flash(_("Call saved."), "success")
    return redirect(url_for("manage.call_hub", call_id=saved.id))


@bp.route("/calls/new", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def new_call() -> Any:
    if request.method == "GET":
        form = CallForm(data={"programmes": _programme_rows(None), "timezone": "Europe/Oslo",
                              "reviewers_per_application": 3, "disagreement_threshold": Decimal("1.00")})
        return _render_call_form(form, None, 200)
    return _save(CallForm(), None)


@bp.route("/calls/<int:call_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit_call(call_id: int) -> Any:
    call = load_call(call_id)
    if request.method == "GET":
        return _render_call_form(CallForm(data=_form_data(call)), call, 200)
    return _save(CallForm(), call)


@bp.route("/calls/<int:call_id>/clone", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def clone_call(call_id: int) -> Any:
    source = load_call(call_id)
    form = CloneForm() if request.method == "POST" else CloneForm(
        data={"title": _("%(title)s (copy)", title=source.title), "slug": f"{source.slug}-copy"[:80]})
    if form.validate_on_submit():
        try:
            call = service.clone_call(current_user, source, form.title.data, (form.slug.data or "").strip())
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("A new draft was made from %(title)s; check its dates.", title=source.title), "success")
            return redirect(url_for("manage.edit_call", call_id=call.id))
    return render_template("manage/call_clone.html", form=form, source=source), form_status(form)


def _lifecycle_action(call_id: int, action: str) -> Any:
    call = load_call(call_id)
    if not LifecycleForm().validate_on_submit():
        abort(400)
    try:
        if action == "publish":
            service.publish_call(current_user, call, utcnow())
        else:
            service.advance_call(current_user, call, utcnow())
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return call_hub_page(load_call(call_id), 409)
    flash(_("The call is now %(state)s.", state=CALL_STATE_LABELS[call.state]), "success")
    return redirect(url_for("manage.call_hub", call_id=call.id))


@bp.route("/calls/<int:call_id>/publish", methods=["POST"])
@role_required(Role.MANAGER)
def publish_call(call_id: int) -> Any:
    return _lifecycle_action(call_id, "publish")


@bp.route("/calls/<int:call_id>/advance", methods=["POST"])
@role_required(Role.MANAGER)
def advance_call(call_id: int) -> Any:
    return _lifecycle_action(call_id, "advance")


@bp.route("/calls/<int:call_id>/preview")
@role_required(Role.MANAGER)
def preview_call(call_id: int) -> Any:
    """The public page and every step's form as an applicant would see them, read-only."""
    call = db.session.scalar(select(Call).where(Call.id == call_id).options(
        selectinload(Call.programmes).selectinload(CallProgramme.programme))) or abort(404)
    forms = []
    for step in STEPS:
        form_class = STEP_FORMS.get(step.slug)
        if form_class is None:
            continue
        form = form_class(formdata=None, meta={"csrf": False})
        if isinstance(form, PreferencesForm):
            form.set_programmes([(offered.programme_id, offered.programme.name) for offered in call.programmes])
        forms.append((step, form))
    return render_template("manage/call_preview.html", call=call, forms=forms, now=utcnow(), steps=STEPS)
