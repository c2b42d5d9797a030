"""The form builder: a call's own questions, added, edited, ordered and deleted by managers."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, CallQuestion
from incubator.services import ServiceError
from incubator.services import questions as service
from incubator.web.access import role_required
from incubator.web.forms import form_status, show_service_error
from incubator.web.manage.calls import load_call
from incubator.web.manage.routes import bp

VARIANT_CHOICES = [
    ("short_text", _l("Short text")), ("long_text", _l("Long text (with a word limit)")),
    ("single_choice", _l("Single choice")), ("multiple_choice", _l("Multiple choice")),
    ("number", _l("Number (with bounds)")), ("yes_no", _l("Yes / no")), ("pdf_upload", _l("PDF upload")),
]
VARIANT_LABELS = dict(VARIANT_CHOICES)


class QuestionForm(FlaskForm):
    label = StringField(_l("Question"), validators=[DataRequired(message=_l("A question needs its text.")),
                                                    Length(max=300)])
    variant = SelectField(_l("Kind of answer"), choices=VARIANT_CHOICES)
    help_text = TextAreaField(_l("Help text"), validators=[Optional(), Length(max=2000)], render_kw={"rows": 2})
    required = BooleanField(_l("Required to submit"))
    options = TextAreaField(_l("Options, one per line (choice questions)"), validators=[Optional(), Length(max=5000)],
                            render_kw={"rows": 4})
    max_words = IntegerField(_l("Word limit (long text)"),
                             validators=[Optional(), NumberRange(min=1, max=5000,
                                                                 message=_l("A word limit is from 1 to 5000."))])
    min_number = DecimalField(_l("Lowest number allowed"), places=2, validators=[Optional()])
    max_number = DecimalField(_l("Highest number allowed"), places=2, validators=[Optional()])
    submit = SubmitField(_l("Save question"))


class ActionForm(FlaskForm):
    """CSRF only: move and delete buttons post nothing else."""


def _load_question(call: Call, question_id: int) -> CallQuestion:
    question = db.session.get(CallQuestion, question_id)
    if question is None or question.call_id != call.id:
        abort(404)
    return question


def _input(form: QuestionForm) -> service.QuestionInput:
    return service.QuestionInput(
        variant=form.variant.data or "", label=form.label.data or "", help_text=form.help_text.data or "",
        required=bool(form.required.data), max_words=form.max_words.data, min_number=form.min_number.data,
        max_number=form.max_number.data, options=(form.options.data or "").splitlines())


def _page(call: Call, form: QuestionForm, status: int, editing: CallQuestion | None = None) -> Any:
    answered = {question.id for question in call.questions if service.is_answered(question)}
    return render_template("manage/questions.html", call=call, form=form, editing=editing, answered=answered,
                           action_form=ActionForm(), variant_labels=VARIANT_LABELS), status


@bp.route("/calls/<int:call_id>/questions", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def questions(call_id: int) -> Any:
    call = load_call(call_id)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            service.add_question(current_user, call, _input(form))
        except ServiceError as error:
            show_service_error(form, error)
            return _page(load_call(call_id), form, 409 if isinstance(error, service.QuestionLocked) else 400)
        flash(_("Question added."), "success")
        return redirect(url_for("manage.questions", call_id=call.id))
    return _page(call, form, form_status(form))


@bp.route("/calls/<int:call_id>/questions/<int:question_id>/edit", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def edit_question(call_id: int, question_id: int) -> Any:
    call = load_call(call_id)
    question = _load_question(call, question_id)
    if request.method == "GET":
        form = QuestionForm(data={
            "label": question.label, "variant": question.variant, "help_text": question.help_text,
            "required": question.required, "max_words": question.max_words, "min_number": question.min_number,
            "max_number": question.max_number, "options": "\n".join(option.label for option in question.options)})
        return _page(call, form, 200, question)
    form = QuestionForm()
    if form.validate_on_submit():
        try:
            service.update_question(current_user, question, _input(form))
        except ServiceError as error:
            show_service_error(form, error)
            call = load_call(call_id)
            return _page(call, form, 409 if isinstance(error, service.QuestionLocked) else 400,
                         _load_question(call, question_id))
        flash(_("Question saved."), "success")
        return redirect(url_for("manage.questions", call_id=call.id))
    return _page(call, form, form_status(form), question)


def _post_action(call_id: int, question_id: int) -> tuple[Call, CallQuestion]:
    call = load_call(call_id)
    question = _load_question(call, question_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return call, question


@bp.route("/calls/<int:call_id>/questions/<int:question_id>/move/<direction>", methods=["POST"])
@role_required(Role.MANAGER)
def move_question(call_id: int, question_id: int, direction: str) -> Any:
    if direction not in ("up", "down"):
        abort(404)
    call, question = _post_action(call_id, question_id)
    service.move_question(current_user, question, -1 if direction == "up" else 1)
    return redirect(url_for("manage.questions", call_id=call.id))


@bp.route("/calls/<int:call_id>/questions/<int:question_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_question(call_id: int, question_id: int) -> Any:
    call, question = _post_action(call_id, question_id)
    try:
        service.delete_question(current_user, question)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _page(load_call(call_id), QuestionForm(formdata=None), 409)
    flash(_("Question deleted."), "info")
    return redirect(url_for("manage.questions", call_id=call.id))
