"""Managers assign reviewers to a call's applications, by hand or automatically, and record
conflicts of interest. Thin: load (404), check access, validate the form, call one service."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, User
from incubator.services import ServiceError
from incubator.services.assignments import (
    AssignmentOverview,
    AssignmentRefused,
    AutoAssignReport,
    ReviewerLoad,
    application_label,
    assign_reviewer,
    assignable_applications,
    assignment_overview,
    auto_assign,
    loads_in_call,
    reviewer_pool,
    unassign_reviewer,
)
from incubator.services.conflicts import set_conflict_by_manager
from incubator.web.access import role_required
from incubator.web.forms import show_service_error
from incubator.web.manage.routes import bp


def _optional_int(value: object) -> int | None:
    """The placeholder option posts ""; anything else must be an id."""
    if value in ("", None):
        return None
    return int(value)  # type: ignore[arg-type]  # ValueError becomes a form error


def _application_field() -> SelectField:
    return SelectField(_l("Application"), coerce=_optional_int,
                       validators=[DataRequired(message=_l("Choose an application."))],
                       invalid_choice_message=_l("Choose an application of this call that awaits reviews."))


def _reviewer_field() -> SelectField:
    return SelectField(_l("Reviewer"), coerce=_optional_int,
                       validators=[DataRequired(message=_l("Choose a reviewer."))],
                       invalid_choice_message=_l("Choose one of the active reviewers."))


class AssignForm(FlaskForm):
    application_id = _application_field()
    reviewer_id = _reviewer_field()
    submit = SubmitField(_l("Assign"))


class AutoAssignForm(FlaskForm):
    keep_existing = BooleanField(_l("Keep existing assignments and only fill the gaps"), default=True,
                                 description=_l("Untick to also replace assignments whose reviewer has not "
                                                "started a review yet."))
    submit = SubmitField(_l("Assign automatically"))


class ConflictForm(FlaskForm):
    application_id = _application_field()
    reviewer_id = _reviewer_field()
    reason = TextAreaField(_l("Reason"), validators=[
        DataRequired(message=_l("Say briefly why there is a conflict.")),
        Length(max=2000, message=_l("Keep the reason under 2,000 characters.")),
    ])
    whole_company = BooleanField(_l("For every application of this company"),
                                 description=_l("By its organisation number, in this and future calls."))
    submit = SubmitField(_l("Record conflict"))


class UnassignForm(FlaskForm):
    """Only the CSRF token: the assignment is named by the URL."""


def _forms(overview: AssignmentOverview, **given: FlaskForm) -> dict[str, FlaskForm]:
    """Every form of the page, the posted one kept (with its errors), the others fresh.

    Prefixes keep field names and HTML ids apart: two forms have an application select.
    """
    forms = {
        "assign_form": given.get("assign_form") or AssignForm(prefix="assign", formdata=None),
        "auto_form": given.get("auto_form") or AutoAssignForm(prefix="auto", formdata=None),
        "conflict_form": given.get("conflict_form") or ConflictForm(prefix="conflict", formdata=None),
        "unassign_form": given.get("unassign_form") or UnassignForm(formdata=None),
    }
    choices = _choices(overview.assignable, overview.reviewers)
    _fill_choices(forms["assign_form"], choices)
    _fill_choices(forms["conflict_form"], choices)
    return forms


Choices = tuple[list[tuple[Any, str]], list[tuple[Any, str]]]


def _choices(applications: Sequence[Application], reviewers: Sequence[ReviewerLoad]) -> Choices:
    """Applications awaiting reviews, and reviewers with their load so the manager sees room."""
    choose = ("", _("— choose —"))
    return (
        [choose] + [(a.id, application_label(a)) for a in applications],
        [choose] + [(row.reviewer.user.id, f"{row.reviewer.user.name} ({row.load}/{row.reviewer.max_load})")
                    for row in reviewers],
    )


def _fill_choices(form: FlaskForm, choices: Choices) -> None:
    form.application_id.choices, form.reviewer_id.choices = choices


def _page(call: Call, status: int = 200, **forms: FlaskForm) -> Any:
    overview = assignment_overview(call)
    return render_template("manage/assignments.html", call=call, overview=overview,
                           **_forms(overview, **forms)), status


def _call_or_404(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


def _posted(form_class: type[FlaskForm], call: Call, prefix: str | None = None) -> Any:
    """A posted form with its choices filled in before validation."""
    form = form_class(prefix=prefix) if prefix else form_class()
    if hasattr(form, "application_id"):
        loads = loads_in_call(call)
        reviewers = [ReviewerLoad(r, loads.get(r.user.id, 0)) for r in reviewer_pool()]
        _fill_choices(form, _choices(assignable_applications(call), reviewers))
    return form


def _status_of(error: ServiceError) -> int:
    return 409 if isinstance(error, AssignmentRefused) else 400


@bp.route("/calls/<int:call_id>/assignments", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def assignments(call_id: int) -> Any:
    """The assignment board; a POST assigns one reviewer by hand."""
    call = _call_or_404(call_id)
    form = _posted(AssignForm, call, "assign")
    if not form.is_submitted():
        return _page(call)
    if not form.validate():
        return _page(call, 400, assign_form=form)
    application = db.session.get(Application, form.application_id.data) or abort(404)
    reviewer = db.session.get(User, form.reviewer_id.data) or abort(404)
    try:
        assign_reviewer(current_user, application, reviewer, utcnow())
    except ServiceError as error:
        show_service_error(form, error)
        return _page(call, _status_of(error), assign_form=form)
    flash(_("%(reviewer)s now reviews %(application)s.", reviewer=reviewer.name,
            application=application_label(application)), "success")
    return redirect(url_for("manage.assignments", call_id=call.id))


@bp.route("/calls/<int:call_id>/assignments/auto", methods=["POST"])
@role_required(Role.MANAGER)
def auto_assignments(call_id: int) -> Any:
    call = _call_or_404(call_id)
    form = _posted(AutoAssignForm, call, "auto")
    if not form.validate_on_submit():
        return _page(call, 400, auto_form=form)
    try:
        report = auto_assign(current_user, call, keep_existing=form.keep_existing.data, now=utcnow())
    except ServiceError as error:
        show_service_error(form, error)
        return _page(call, _status_of(error), auto_form=form)
    _flash_report(report)
    return redirect(url_for("manage.assignments", call_id=call.id))


def _flash_report(report: AutoAssignReport) -> None:
    flash(ngettext("%(num)d assignment made.", "%(num)d assignments made.", report.created)
          + " " + ngettext("%(num)d reviewer emailed.", "%(num)d reviewers emailed.", report.emailed),
          "success")
    if report.removed:
        flash(ngettext("%(num)d unstarted assignment replaced.", "%(num)d unstarted assignments replaced.",
                       report.removed), "info")
    if report.conflicts_detected:
        flash(ngettext("%(num)d conflict of interest detected and recorded.",
                       "%(num)d conflicts of interest detected and recorded.", report.conflicts_detected), "info")
    if report.unfilled:
        missing = ", ".join(f"{s.label} ({s.missing})" for s in report.unfilled)
        flash(_("Not enough reviewers without a conflict or with free capacity for: %(list)s.", list=missing),
              "warning")
    if report.underloaded:
        short = ", ".join(f"{s.label} ({s.missing})" for s in report.underloaded)
        flash(_("These reviewers stay below their minimum load: %(list)s.", list=short), "warning")
    if report.not_willing_used:
        flash(ngettext("No assignment could fill every place without bids of \"not willing\": "
                       "%(num)d application went to a reviewer who bid \"not willing\".",
                       "No assignment could fill every place without bids of \"not willing\": "
                       "%(num)d applications went to reviewers who bid \"not willing\".",
                       report.not_willing_used), "warning")


@bp.route("/assignments/<int:assignment_id>/delete", methods=["POST"])
@role_required(Role.MANAGER)
def delete_assignment(assignment_id: int) -> Any:
    assignment = db.session.get(Assignment, assignment_id) or abort(404)
    call = assignment.application.call
    form = UnassignForm()
    if not form.validate_on_submit():
        return _page(call, 400, unassign_form=form)
    name, label = assignment.reviewer.name, application_label(assignment.application)
    try:
        unassign_reviewer(current_user, assignment)
    except ServiceError as error:
        show_service_error(form, error)
        return _page(call, _status_of(error), unassign_form=form)
    flash(_("%(reviewer)s no longer reviews %(application)s.", reviewer=name, application=label), "success")
    return redirect(url_for("manage.assignments", call_id=call.id))


@bp.route("/calls/<int:call_id>/conflicts", methods=["POST"])
@role_required(Role.MANAGER)
def record_conflict(call_id: int) -> Any:
    call = _call_or_404(call_id)
    form = _posted(ConflictForm, call, "conflict")
    if not form.validate_on_submit():
        return _page(call, 400, conflict_form=form)
    application = db.session.get(Application, form.application_id.data) or abort(404)
    reviewer = db.session.get(User, form.reviewer_id.data) or abort(404)
    try:
        set_conflict_by_manager(current_user, reviewer, application, form.reason.data,
                                whole_company=form.whole_company.data, now=utcnow())
    except ServiceError as error:
        show_service_error(form, error)
        return _page(call, _status_of(error), conflict_form=form)
    flash(_("Conflict recorded: %(reviewer)s will not review %(application)s.", reviewer=reviewer.name,
            application=application_label(application)), "success")
    return redirect(url_for("manage.assignments", call_id=call.id))
