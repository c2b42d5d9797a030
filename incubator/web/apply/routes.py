"""Open calls, the application in steps, submission, withdrawal and the applicant's view."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from incubator.database import utcnow
from incubator.domain.applications import STEP_SLUGS, STEPS, ApplicationState
from incubator.domain.ids import as_row_id
from incubator.domain.membership import Permission
from incubator.domain.questions import Answer
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application
from incubator.services import ServiceError, applications, membership
from incubator.services.applications import NotAllowed
from incubator.services.committee import shared_note_for_applicant
from incubator.services.question_answers import save_question_answers
from incubator.services.questions import AnswersInvalid, answer_of, answers_by_question
from incubator.services.timeline import application_timeline
from incubator.web.access import login_required, role_required
from incubator.web.apply import bp
from incubator.web.apply.forms import (
    STEP_FORMS,
    AttachmentUploadForm,
    JoinForm,
    PreferencesForm,
    QuestionsForm,
    StartForm,
    SubmitForm,
    WithdrawForm,
)
from incubator.web.apply.steps import load_call, load_own_application, step_context, steps_for
from incubator.web.forms import form_status, show_service_error


@bp.route("/calls")
def calls() -> Any:
    return redirect(url_for("main.index"))


@bp.route("/calls/<slug>")
def call_detail(slug: str) -> Any:
    call = load_call(slug)
    now = utcnow()
    existing = None
    if current_user.is_authenticated:
        existing = applications.find_application_for(current_user, call)
    return render_template("apply/call.html", call=call, now=now, existing=existing, start_form=StartForm())


@bp.route("/calls/<slug>/apply", methods=["POST"])
@role_required(Role.APPLICANT)
def start(slug: str) -> Any:
    call = load_call(slug)
    form = StartForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        application = applications.start_application(current_user, call, utcnow())
    except ServiceError as error:
        flash(error.message, "danger")
        return render_template("apply/call.html", call=call, now=utcnow(), existing=None, start_form=form), 409
    return redirect(url_for("apply.step", application_id=application.id, step=STEP_SLUGS[0]))


def _fill_form(form: Any, application: Application, step: str) -> None:
    """Show what is saved; on a POST, what the person typed wins (nothing they typed is lost)."""
    if request.method == "POST":
        return
    for name, field in form._fields.items():
        if name in ("save", "csrf_token") or not hasattr(application, name):
            continue
        value = getattr(application, name)
        if field.type == "SelectField":
            value = "" if value is None else str(value)
        field.data = value
    if step == "preferences":
        ranked = [str(pref.programme_id) for pref in application.preferences]
        form.first_choice.data = ranked[0] if ranked else ""
        form.second_choice.data = ranked[1] if len(ranked) > 1 else ""


def _step_data(form: Any, step: str) -> dict[str, Any]:
    data = {name: field.data for name, field in form._fields.items() if name not in ("save", "csrf_token")}
    for key in ("country", "focus_area", "development_stage", "space_type"):
        if key in data:
            data[key] = data[key] or None
    if step == "preferences":
        data = {"desired_start": form.desired_start.data,
                "desired_length_months": int(form.desired_length_months.data) if form.desired_length_months.data else None,
                "programme_ids": form.ranked_programme_ids()}
    return data


@bp.route("/applications/<int:application_id>/steps/<step>", methods=["GET", "POST"])
@role_required(Role.APPLICANT)
def step(application_id: int, step: str) -> Any:
    application = load_own_application(application_id)
    if step not in [s.slug for s in steps_for(application.call)]:
        abort(404)
    if application.state != ApplicationState.DRAFT.value:
        return redirect(url_for("apply.show_application", application_id=application.id))
    if step == "attachments":
        return render_template("apply/step_attachments.html", upload_form=AttachmentUploadForm(),
                               **step_context(application, step))
    if step == "questions":
        return _questions_step(application)
    if step == "review":
        return _review_page(application, SubmitForm(data={"consent": application.consent}))
    form = STEP_FORMS[step]()
    if isinstance(form, PreferencesForm):
        form.set_programmes([(offered.programme_id, offered.programme.name) for offered in application.call.programmes])
    _fill_form(form, application, step)
    status = 200
    join = None
    if form.validate_on_submit():
        data = _step_data(form, step)
        try:
            applications.save_step(application, current_user, step, data, utcnow())
        except NotAllowed:
            abort(404)
        except applications.CompanyTaken as error:
            show_service_error(form, error)
            status, join = 400, _join_form(data)
        except ServiceError as error:
            show_service_error(form, error)
            status = 409 if error.field is None else 400
        else:
            flash(_("Saved."), "success")
            following = STEP_SLUGS[STEP_SLUGS.index(step) + 1]
            return redirect(url_for("apply.step", application_id=application.id, step=following))
    return render_template("apply/step_form.html", form=form, join_form=join,
                           **step_context(application, step)), max(
        status, form_status(form))


def _join_form(data: dict[str, Any]) -> Any:
    """The button that asks the owner of the company's existing application to add this person."""
    country = (data.get("country") or "").upper()
    number = applications.checked_org_number(country, data.get("org_number"))
    return JoinForm(formdata=None, country=country, org_number=number)


def _questions_step(application: Application) -> Any:
    form = QuestionsForm()
    answers = {question_id: answer_of(row) for question_id, row in answers_by_question(application).items()}
    problems: dict[int, str] = {}
    status = 200
    if form.validate_on_submit():
        raw = {question.id: request.form.getlist(f"q-{question.id}") for question in application.call.questions}
        uploads = {question.id: (upload.filename, upload.stream) for question in application.call.questions
                   if (upload := request.files.get(f"q-{question.id}")) is not None and upload.filename}
        try:
            save_question_answers(application, current_user, raw, uploads, utcnow())
        except NotAllowed:
            abort(404)
        except AnswersInvalid as invalid:
            db.session.rollback()
            problems, status = invalid.problems, 400
            form.form_errors.append(invalid.message)
            answers = _typed_answers(application, raw)
        except ServiceError as error:
            show_service_error(form, error)
            status = 409
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("apply.step", application_id=application.id, step="review"))
    return render_template("apply/step_questions.html", form=form, call=application.call, answers=answers,
                           question_errors=problems, **step_context(application, "questions")), max(
        status, form_status(form))


def _typed_answers(application: Application, raw: dict[int, list[str]]) -> dict[int, Answer]:
    """What the person typed, shown again beside the problems, so nothing they wrote is lost."""
    shown: dict[int, Answer] = {}
    for question in application.call.questions:
        values = [value for value in raw.get(question.id, []) if value.strip()]
        if question.variant in ("single_choice", "multiple_choice"):
            shown[question.id] = Answer(option_ids=tuple(i for i in map(as_row_id, values) if i is not None))
        elif question.variant == "pdf_upload":
            saved = answers_by_question(application).get(question.id)
            shown[question.id] = Answer(attachment_id=saved.attachment_id if saved else None)
        elif question.variant == "yes_no":
            shown[question.id] = Answer(yes={"yes": True, "no": False}.get(values[0]) if values else None)
        else:
            shown[question.id] = Answer(text=values[0] if values else None)
    return shown


def _review_page(application: Application, form: SubmitForm, status: int = 200) -> Any:
    return render_template("apply/step_review.html", form=form, **step_context(application, "review")), status


@bp.route("/applications/<int:application_id>/submit", methods=["POST"])
@role_required(Role.APPLICANT)
def submit(application_id: int) -> Any:
    application = load_own_application(application_id)
    form = SubmitForm()
    if not form.validate_on_submit():
        return _review_page(application, form, 400)
    now = utcnow()
    try:
        if application.state == ApplicationState.DRAFT.value and application.consent != form.consent.data:
            applications.save_step(application, current_user, "review", {"consent": form.consent.data}, now)
        applications.submit_application(application, current_user, now)
    except NotAllowed:
        abort(404)
    except ServiceError as error:
        show_service_error(form, error)
        # The refused submit rolled back; reload so the page shows what is really saved.
        application = load_own_application(application_id)
        return _review_page(application, form, 409)
    flash(_("Your application is submitted. A confirmation is on its way to %(email)s.", email=current_user.email),
          "success")
    return redirect(url_for("apply.show_application", application_id=application.id))


@bp.route("/applications/<int:application_id>")
@login_required
def show_application(application_id: int) -> Any:
    application = db.session.get(Application, application_id)
    if application is None or not applications.can_view_application(current_user, application):
        abort(404)
    return render_template(
        "apply/application.html",
        application=application,
        timeline=application_timeline(application),
        # Only the shared part, and only after release; the internal note never reaches this page.
        shared_note=shared_note_for_applicant(application),
        withdraw_form=WithdrawForm(),
        my_role=membership.role_of(current_user, application),
        may_edit=membership.can(current_user, application, Permission.EDIT),
        may_respond=membership.can(current_user, application, Permission.RESPOND),
        now=utcnow(),
        steps=STEPS,
    )


@bp.route("/applications/<int:application_id>/withdraw", methods=["GET", "POST"])
@role_required(Role.APPLICANT)
def withdraw(application_id: int) -> Any:
    application = load_own_application(application_id, Permission.RESPOND)
    if not applications.can_withdraw(application):
        # Decided or withdrawn already: say so instead of offering a form that can only fail.
        return render_template("apply/withdraw.html", form=None, application=application), 409
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            applications.withdraw_application(application, current_user, form.reason.data or "", utcnow())
        except ServiceError as error:
            show_service_error(form, error)
            return render_template("apply/withdraw.html", form=form, application=application), 409
        flash(_("Your application is withdrawn."), "info")
        return redirect(url_for("apply.show_application", application_id=application.id))
    return render_template("apply/withdraw.html", form=form, application=application), form_status(form)
