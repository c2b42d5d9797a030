"""A call's hub for managers, and its rubric editor."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import DecimalField, FieldList, Form, FormField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from incubator.domain.calls import next_state
from incubator.domain.roles import Role
from incubator.domain.rubric import LEVEL_DESCRIPTORS
from incubator.extensions import db
from incubator.models import Application, Call
from incubator.services import ServiceError
from incubator.services.rubric import CriterionInput, replace_rubric, reviewing_started
from incubator.web.access import role_required
from incubator.web.forms import DecimalBounds, show_service_error
from incubator.web.manage.routes import CALL_STATE_LABELS, bp

BLANK_ROWS = 2
MAX_CRITERIA = 30
SCALE_BOUNDS = DecimalBounds("-999.99", "999.99", places=2)


class CriterionRow(Form):
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
    # Bounds are the columns' (NUMERIC(6,3) and NUMERIC(5,2)).
    weight = DecimalField(_l("Weight"), validators=[Optional(), DecimalBounds("0.001", "999", places=3)])
    scale_min = DecimalField(_l("Scale from"), default=Decimal(0), validators=[Optional(), SCALE_BOUNDS])
    scale_max = DecimalField(_l("Scale to"), default=Decimal(5), validators=[Optional(), SCALE_BOUNDS])
    step = DecimalField(_l("Step"), default=Decimal("0.5"),
                        validators=[Optional(), DecimalBounds("0.01", "999.99", places=2)])
    threshold = DecimalField(_l("Threshold (optional)"), validators=[Optional(), SCALE_BOUNDS])
    descriptors = TextAreaField(_l("Level descriptors, one per line: level = meaning"),
                                validators=[Optional(), Length(max=5000)], render_kw={"rows": 3})


class LifecycleForm(FlaskForm):
    submit = SubmitField(_l("Go"))


class RubricForm(FlaskForm):
    criteria = FieldList(FormField(CriterionRow), min_entries=1, max_entries=MAX_CRITERIA)
    submit = SubmitField(_l("Save rubric"))


def load_call(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


@bp.route("/calls/<int:call_id>")
@role_required(Role.MANAGER)
def call_hub(call_id: int) -> Any:
    return call_hub_page(load_call(call_id))


def call_hub_page(call: Call, status: int = 200) -> Any:
    """The hub, also shown again (with a 409) when a lifecycle step from it was refused."""
    counts = dict(db.session.execute(
        select(Application.state, func.count()).where(Application.call_id == call.id).group_by(Application.state)
    ).all())
    return render_template("manage/call.html", call=call, counts=counts, reviewing_started=reviewing_started(call),
                           lifecycle_form=LifecycleForm(), next_state=next_state(call.state),
                           state_labels=CALL_STATE_LABELS), status


def _descriptors_text(descriptors: dict[str, str]) -> str:
    return "\n".join(f"{level} = {text}" for level, text in sorted(descriptors.items(), key=lambda kv: float(kv[0])))


def _parse_descriptors(text: str | None) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for line in (text or "").splitlines():
        level, sep, meaning = line.partition("=")
        if not sep:
            level, sep, meaning = line.partition(":")
        if sep and level.strip() and meaning.strip():
            parsed[level.strip()] = meaning.strip()
    return parsed


def _rows_from_call(call: Call) -> list[dict[str, Any]]:
    rows = [{"name": c.name, "description": c.description, "weight": c.weight, "scale_min": c.scale_min,
             "scale_max": c.scale_max, "step": c.step, "threshold": c.threshold,
             "descriptors": _descriptors_text(c.descriptors)} for c in call.criteria]
    blank = {"scale_min": Decimal(0), "scale_max": Decimal(5), "step": Decimal("0.5"),
             "descriptors": _descriptors_text(LEVEL_DESCRIPTORS)}
    return rows + [dict(blank) for _ in range(BLANK_ROWS)]


def _inputs(form: RubricForm) -> list[CriterionInput]:
    items = []
    for row in form.criteria:
        data = row.data
        if not (data["name"] or "").strip():
            continue  # an empty row is a row not used
        try:
            items.append(CriterionInput(
                name=data["name"], description=data["description"] or "",
                weight=data["weight"] if data["weight"] is not None else Decimal(0),
                scale_min=data["scale_min"] if data["scale_min"] is not None else Decimal(0),
                scale_max=data["scale_max"] if data["scale_max"] is not None else Decimal(5),
                step=data["step"] if data["step"] is not None else Decimal("0.5"),
                threshold=data["threshold"], descriptors=_parse_descriptors(data["descriptors"])))
        except InvalidOperation as error:
            raise ServiceError(_("%(name)s: a number is not valid.", name=data["name"])) from error
    return items


@bp.route("/calls/<int:call_id>/rubric", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def rubric(call_id: int) -> Any:
    call = load_call(call_id)
    locked = reviewing_started(call)
    if request.method == "GET":
        rows = _rows_from_call(call)
        form = RubricForm(data={"criteria": rows[: len(call.criteria)] if locked else rows})
        return render_template("manage/rubric.html", call=call, form=form, locked=locked)
    form = RubricForm()
    if locked:
        form.form_errors.append(_("Reviewing has started; the rubric can no longer change."))
        return render_template("manage/rubric.html", call=call, form=form, locked=locked), 409
    if form.validate_on_submit():
        try:
            replace_rubric(current_user, call, _inputs(form))
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Rubric saved."), "success")
            return redirect(url_for("manage.rubric", call_id=call.id))
    return render_template("manage/rubric.html", call=call, form=form, locked=locked), 400
