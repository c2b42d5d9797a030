"""A call's reminder policy and the reminders coming up, for its managers."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, NumberRange

from incubator.database import utcnow
from incubator.domain.reminders import WEEKDAYS, PolicyError, ReminderPolicy, format_days, parse_days
from incubator.domain.roles import Role
from incubator.services import ServiceError
from incubator.services import reminders as reminder_service
from incubator.web.access import role_required
from incubator.web.forms import form_status, show_service_error
from incubator.web.manage.calls import load_call
from incubator.web.manage.routes import bp

KIND_LABELS = {"reviewer": _l("Reviewer"), "draft": _l("Applicant (draft)"), "escalation": _l("Escalation"),
               "digest": _l("Weekly digest")}
STATE_LABELS = {"sent": _l("sent"), "due": _l("at the next sweep"), "scheduled": _l("scheduled")}


class PolicyForm(FlaskForm):
    enabled = BooleanField(_l("Send reminders for this call"))
    reviewer_days_before = StringField(
        _l("Remind reviewers this many days before their deadline"),
        description=_l("Whole days, separated by commas, e.g. 7, 2, 1. Empty: no reminders before the deadline."))
    overdue_every_days = IntegerField(_l("Then, while a review is overdue, remind every … days"),
                                      validators=[InputRequired(), NumberRange(min=1, max=30)])
    overdue_max = IntegerField(_l("At most this many overdue reminders"),
                               validators=[InputRequired(), NumberRange(min=0, max=10)])
    escalate_with_overdue = IntegerField(
        _l("Tell the programme managers with overdue reminder number"),
        description=_l("0: never tell the managers."), validators=[InputRequired(), NumberRange(min=0, max=10)])
    applicant_days_before = StringField(
        _l("Remind applicants with an unsubmitted draft this many days before the call closes"),
        description=_l("Whole days, separated by commas, e.g. 3, 1."))
    manager_digest_weekday = SelectField(_l("Weekly progress digest to managers"))
    manager_digest_hour = IntegerField(_l("Digest hour (in the call's time zone)"),
                                       validators=[InputRequired(), NumberRange(min=0, max=23)])
    submit = SubmitField(_l("Save reminder policy"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.manager_digest_weekday.choices = [("", _("No digest"))] + [
            (str(number), _(name)) for number, name in enumerate(WEEKDAYS)]


def _form_data(policy: ReminderPolicy) -> dict[str, Any]:
    return {
        "enabled": policy.enabled, "reviewer_days_before": format_days(policy.reviewer_days_before),
        "overdue_every_days": policy.overdue_every_days, "overdue_max": policy.overdue_max,
        "escalate_with_overdue": policy.escalate_with_overdue,
        "applicant_days_before": format_days(policy.applicant_days_before),
        "manager_digest_weekday": "" if policy.manager_digest_weekday is None else str(policy.manager_digest_weekday),
        "manager_digest_hour": policy.manager_digest_hour,
    }


def _policy_from(form: PolicyForm) -> ReminderPolicy:
    try:
        weekday = form.manager_digest_weekday.data
        return ReminderPolicy(
            enabled=bool(form.enabled.data),
            reviewer_days_before=parse_days(form.reviewer_days_before.data or "", "reviewer_days_before"),
            overdue_every_days=form.overdue_every_days.data, overdue_max=form.overdue_max.data,
            escalate_with_overdue=form.escalate_with_overdue.data,
            applicant_days_before=parse_days(form.applicant_days_before.data or "", "applicant_days_before"),
            manager_digest_weekday=int(weekday) if weekday else None,
            manager_digest_hour=form.manager_digest_hour.data,
        )
    except PolicyError as error:
        raise ServiceError(str(error), field=error.field) from error


@bp.route("/calls/<int:call_id>/reminders", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def reminders_page(call_id: int) -> Any:
    call = load_call(call_id)
    if request.method == "POST":
        form = PolicyForm()
        if form.validate_on_submit():
            try:
                reminder_service.save_policy(current_user, call, _policy_from(form))
            except ServiceError as error:
                show_service_error(form, error)
            else:
                flash(_("Reminder policy saved."), "success")
                return redirect(url_for("manage.reminders_page", call_id=call.id))
    else:
        form = PolicyForm(data=_form_data(reminder_service.policy_for(call)))
    now = utcnow()
    upcoming = reminder_service.upcoming_for_call(call, now)
    return render_template("manage/reminders.html", call=call, form=form, upcoming=upcoming, now=now,
                           kind_labels=KIND_LABELS, state_labels=STATE_LABELS), form_status(form)
