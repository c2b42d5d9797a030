"""A resident followed through the stay: the manager's page for one residency, with support
received, OCC membership, the quarterly check-ins and the end-of-residency report."""

from __future__ import annotations

import datetime as dt
from typing import Any

from babel.dates import format_date
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from incubator.database import utcnow
from incubator.domain.follow_up import (
    CURRENCIES,
    MAX_AMOUNT,
    MAX_JOBS,
    MAX_TEXT,
    SUPPORT_PROGRAMMES,
    SUPPORT_STATES,
)
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Residency
from incubator.services import ServiceError
from incubator.services import residency_follow_up as follow_up
from incubator.web.access import role_required
from incubator.web.forms import show_service_error, translated_choices
from incubator.web.inputs import parse_id
from incubator.web.manage.routes import bp
from incubator.web.templating import TranslatedLabels

AMOUNT_MESSAGE = _l("Give a whole amount from 0 to 100,000,000,000.")


class MembershipForm(FlaskForm):
    member_since = DateField(_l("OCC member since"), validators=[Optional()],
                             description=_l("Leave empty if the startup is not a member of Oslo Cancer Cluster."))
    submit = SubmitField(_l("Save membership"))


class SupportForm(FlaskForm):
    programme = SelectField(_l("Programme"), choices=translated_choices(SUPPORT_PROGRAMMES))
    programme_name = StringField(_l("Name of the other programme"), validators=[Length(max=120)])
    status = SelectField(_l("Status"), choices=translated_choices(SUPPORT_STATES))
    amount = IntegerField(_l("Amount"), validators=[Optional(), NumberRange(min=0, max=MAX_AMOUNT,
                                                                             message=AMOUNT_MESSAGE)])
    currency = SelectField(_l("Currency"), choices=[(code, code) for code in CURRENCIES])
    applied_on = DateField(_l("Applied on"), validators=[Optional()])
    decided_on = DateField(_l("Decided on"), validators=[Optional()])
    submit = SubmitField(_l("Add support"))

    def data_for_service(self) -> follow_up.SupportData:
        return follow_up.SupportData(
            programme=self.programme.data, programme_name=self.programme_name.data or "", status=self.status.data,
            amount=self.amount.data, currency=self.currency.data, applied_on=self.applied_on.data,
            decided_on=self.decided_on.data)


class SupportStatusForm(FlaskForm):
    support_id = HiddenField()
    status = SelectField(_l("Status"), choices=translated_choices(SUPPORT_STATES))
    decided_on = DateField(_l("Decided on"), validators=[Optional()])
    submit = SubmitField(_l("Update"))


class CheckInForm(FlaskForm):
    due_on = SelectField(_l("Check-in"), validators=[InputRequired(_l("Choose the check-in."))])
    notes = TextAreaField(_l("Notes"), validators=[DataRequired(_l("Write a few notes from the check-in.")),
                                                   Length(max=MAX_TEXT)])
    milestones = TextAreaField(_l("Milestones reached"), validators=[Length(max=MAX_TEXT)],
                               description=_l("E.g. first patient dosed, seed round closed, new hires."))
    submit = SubmitField(_l("Record check-in"))

    def set_choices(self, schedule: list[follow_up.ScheduledCheckIn]) -> None:
        self.due_on.choices = [(item.due_on.isoformat(), format_date(item.due_on, "d MMMM y", locale=get_locale()))
                               for item in schedule]
        if not self.due_on.data:
            today = utcnow().date()
            self.due_on.data = next((item.due_on.isoformat() for item in schedule
                                     if item.record is None and item.due_on <= today + dt.timedelta(days=31)), None)


class ReportForm(FlaskForm):
    outcomes = TextAreaField(_l("Outcomes"), validators=[DataRequired(_l("Describe the outcomes of the residency.")),
                                                         Length(max=MAX_TEXT)])
    jobs_created = IntegerField(_l("Jobs created"), validators=[Optional(), NumberRange(
        min=0, max=MAX_JOBS, message=_l("Give a number of jobs from 0 to 100,000."))])
    funding_raised = IntegerField(_l("Funding raised"), validators=[Optional(), NumberRange(
        min=0, max=MAX_AMOUNT, message=AMOUNT_MESSAGE)])
    funding_currency = SelectField(_l("Currency"), choices=[(code, code) for code in CURRENCIES])
    submit = SubmitField(_l("Save report"))


def load_residency(residency_id: int) -> Residency:
    return db.session.get(Residency, residency_id) or abort(404)


def _render(residency: Residency, status: int = 200, **forms: FlaskForm) -> Any:
    schedule = follow_up.check_in_schedule(residency)
    report = follow_up.report_of(residency)
    check_in_form = forms.get("check_in_form") or CheckInForm(prefix="checkin", formdata=None)
    check_in_form.set_choices(schedule)
    return render_template(
        "manage/residency_follow_up.html", residency=residency, schedule=schedule,
        supports=follow_up.supports_of(residency), report=report, today=utcnow().date(),
        support_labels={"programme": TranslatedLabels(SUPPORT_PROGRAMMES), "status": TranslatedLabels(SUPPORT_STATES)},
        membership_form=forms.get("membership_form") or MembershipForm(
            prefix="membership", formdata=None, member_since=residency.occ_member_since),
        support_form=forms.get("support_form") or SupportForm(prefix="support", formdata=None),
        status_error=forms.get("status_error"),
        check_in_form=check_in_form,
        report_form=forms.get("report_form") or ReportForm(prefix="report", formdata=None, obj=report),
    ), status


def _refused(residency: Residency, name: str, form: FlaskForm, error: ServiceError | None = None) -> Any:
    """The page again with the form's errors (400) or the service's refusal (409)."""
    if error is not None:
        show_service_error(form, error)
    return _render(load_residency(residency.id), 409 if error else 400, **{name: form})


def _done(residency: Residency, message: str, anchor: str) -> Any:
    flash(message, "success")
    return redirect(url_for("manage.residency_follow_up", residency_id=residency.id, _anchor=anchor))


@bp.route("/residencies/<int:residency_id>")
@role_required(Role.MANAGER)
def residency_follow_up(residency_id: int) -> Any:
    return _render(load_residency(residency_id))


@bp.route("/residencies/<int:residency_id>/membership", methods=["POST"])
@role_required(Role.MANAGER)
def residency_membership(residency_id: int) -> Any:
    residency = load_residency(residency_id)
    form = MembershipForm(prefix="membership")
    if not form.validate_on_submit():
        return _refused(residency, "membership_form", form)
    try:
        follow_up.set_occ_membership(current_user, residency, form.member_since.data, utcnow())
    except ServiceError as error:
        return _refused(residency, "membership_form", form, error)
    return _done(residency, _("OCC membership saved."), "membership")


@bp.route("/residencies/<int:residency_id>/support", methods=["POST"])
@role_required(Role.MANAGER)
def residency_support(residency_id: int) -> Any:
    residency = load_residency(residency_id)
    form = SupportForm(prefix="support")
    if not form.validate_on_submit():
        return _refused(residency, "support_form", form)
    try:
        follow_up.add_support(current_user, residency, form.data_for_service(), utcnow())
    except ServiceError as error:
        return _refused(residency, "support_form", form, error)
    return _done(residency, _("Support recorded."), "support")


@bp.route("/residencies/<int:residency_id>/support/status", methods=["POST"])
@role_required(Role.MANAGER)
def residency_support_status(residency_id: int) -> Any:
    residency = load_residency(residency_id)
    form = SupportStatusForm(prefix="status")
    support_id = parse_id(form.support_id.data or "")
    if not form.validate_on_submit() or support_id is None:
        messages = [str(m) for errors in form.errors.values() for m in errors]
        return _render(residency, 400, status_error=" ".join(messages) or _("Choose a support entry from the list."))
    try:
        follow_up.update_support_status(current_user, residency, support_id, form.status.data, form.decided_on.data,
                                        utcnow())
    except ServiceError as error:
        db.session.rollback()
        return _render(load_residency(residency_id), 409, status_error=error.message)
    return _done(residency, _("Support status updated."), "support")


@bp.route("/residencies/<int:residency_id>/check-ins", methods=["POST"])
@role_required(Role.MANAGER)
def residency_check_in(residency_id: int) -> Any:
    residency = load_residency(residency_id)
    form = CheckInForm(prefix="checkin")
    form.set_choices(follow_up.check_in_schedule(residency))
    if not form.validate_on_submit():
        return _refused(residency, "check_in_form", form)
    try:
        follow_up.record_check_in(current_user, residency, dt.date.fromisoformat(form.due_on.data),
                                  form.notes.data or "", form.milestones.data or "", utcnow())
    except ServiceError as error:
        return _refused(residency, "check_in_form", form, error)
    return _done(residency, _("Check-in recorded."), "check-ins")


@bp.route("/residencies/<int:residency_id>/report", methods=["POST"])
@role_required(Role.MANAGER)
def residency_report(residency_id: int) -> Any:
    residency = load_residency(residency_id)
    form = ReportForm(prefix="report")
    if not form.validate_on_submit():
        return _refused(residency, "report_form", form)
    data = follow_up.ReportData(outcomes=form.outcomes.data or "", jobs_created=form.jobs_created.data,
                                funding_raised=form.funding_raised.data, funding_currency=form.funding_currency.data)
    try:
        follow_up.save_report(current_user, residency, data, utcnow())
    except ServiceError as error:
        return _refused(residency, "report_form", form, error)
    return _done(residency, _("End-of-residency report saved."), "report")
