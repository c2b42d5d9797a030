"""Managers decide on applications, one at a time or in bulk, and release the decisions."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from incubator.database import utcnow
from incubator.domain.applications import DECIDED_STATES, ApplicationState
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Call
from incubator.services import ServiceError, decisions
from incubator.services.ranking import rows_for_applications
from incubator.web.access import role_required
from incubator.web.inputs import InputRefused, form_ids, query_int
from incubator.web.manage.routes import bp

DECISION_CHOICES = [("accepted", _l("Accept")), ("waitlisted", _l("Waitlist")), ("rejected", _l("Reject"))]


class DecisionForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=DECISION_CHOICES,
                           validators=[DataRequired(message=_l("Choose a decision."))])
    message = TextAreaField(_l("Message to the applicant (optional)"), validators=[Optional(), Length(max=3000)],
                            render_kw={"rows": 3})
    share_reviewer_comments = BooleanField(_l("Include the reviewers' comments for the applicant in the email"))
    submit = SubmitField(_l("Record decision"))


class BulkDecisionForm(FlaskForm):
    decision = SelectField(_l("Decision for the selected applications"), choices=DECISION_CHOICES)
    share_reviewer_comments = BooleanField(_l("Include the reviewers' comments for the applicant"))
    submit = SubmitField(_l("Apply to selected"))


class ReleaseForm(FlaskForm):
    # The confirmation page's checkbox: releasing cannot be undone, so a bare POST is refused.
    confirm = BooleanField(_l("I have checked the counts and the emails; release the decisions now"),
                           validators=[DataRequired(message=_l("Tick the box to confirm the release."))])
    submit = SubmitField(_l("Release decisions and send the emails"))


class UndoForm(FlaskForm):
    submit = SubmitField(_l("Undo decision"))


def load_call(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


def load_application(application_id: int) -> Application:
    return db.session.get(Application, application_id) or abort(404)


def call_applications(call: Call) -> list[Application]:
    decidable = [state.value for state in (ApplicationState.SUBMITTED, ApplicationState.UNDER_REVIEW, *DECIDED_STATES)]
    return list(db.session.scalars(
        select(Application).where(Application.call_id == call.id, Application.state.in_(decidable))
        .order_by(Application.company_name, Application.id)
    ))


def _refused(title: str, message: str, status: int = 409) -> Any:
    """A refused decision in the site's error layout, with the reason; nothing is changed."""
    return render_template("errors/error.html", code=status, title=title, message=message), status


@bp.route("/calls/<int:call_id>/decisions")
@role_required(Role.MANAGER)
def decisions_page(call_id: int) -> Any:
    call = load_call(call_id)
    return _render_decisions(call, BulkDecisionForm())


def _state_filter() -> ApplicationState | None:
    raw = request.args.get("state", "").strip()
    if not raw:
        return None
    try:
        state = ApplicationState(raw)
    except ValueError:
        state = None
    if state not in decisions.DECIDABLE_STATES:
        raise InputRefused(_("Choose a state from the list."))
    return state


def _render_decisions(call: Call, bulk_form: BulkDecisionForm, status: int = 200) -> Any:
    search = request.args.get("q", "").strip()[:100]
    state = _state_filter()
    page = decisions.decision_page(call.id, search=search, state=state, page=query_int("page", 1))
    ranking = rows_for_applications(call, [application.id for application in page.items])
    states = [s for s in ApplicationState if s in decisions.DECIDABLE_STATES]
    return render_template("manage/decisions.html", call=call, page=page, applications=page.items,
                           bulk_form=bulk_form, undo_form=UndoForm(), unreleased=decisions.unreleased_count(call.id),
                           ranking=ranking, search=search, state=state.value if state else "",
                           states=states), status


@bp.route("/applications/<int:application_id>/decision", methods=["POST"])
@role_required(Role.MANAGER)
def decide(application_id: int) -> Any:
    application = load_application(application_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        return _refused(_("Decision not recorded"), " ".join(str(e) for errors in form.errors.values() for e in errors),
                        400)
    try:
        decisions.decide(current_user, application, ApplicationState(form.decision.data),
                         message=form.message.data or "", share_reviewer_comments=form.share_reviewer_comments.data,
                         now=utcnow())
    except ServiceError as error:
        return _refused(_("Decision not recorded"), error.message)
    flash(_("Decision recorded. It reaches the applicant when you release the call's decisions."), "success")
    return redirect(url_for("manage.decisions_page", call_id=application.call_id))


@bp.route("/applications/<int:application_id>/decision/undo", methods=["POST"])
@role_required(Role.MANAGER)
def undo(application_id: int) -> Any:
    application = load_application(application_id)
    if not UndoForm().validate_on_submit():
        abort(400)
    try:
        decisions.undo_decision(current_user, application, utcnow())
    except ServiceError as error:
        return _refused(_("Decision not changed"), error.message)
    flash(_("Decision undone; the application is under review again."), "info")
    return redirect(url_for("manage.decisions_page", call_id=application.call_id))


@bp.route("/calls/<int:call_id>/decisions/bulk", methods=["POST"])
@role_required(Role.MANAGER)
def decide_in_bulk(call_id: int) -> Any:
    call = load_call(call_id)
    form = BulkDecisionForm()
    ids = form_ids("application_ids")
    if not form.validate_on_submit():
        return _render_decisions(call, form, 400)
    if not ids:
        form.form_errors.append(_("Select at least one application."))
        return _render_decisions(call, form, 400)
    if len(set(ids)) > decisions.DECISIONS_PER_PAGE:  # the page shows no more; a bigger list is forged
        form.form_errors.append(_("Select at most %(count)d applications at once.", count=decisions.DECISIONS_PER_PAGE))
        return _render_decisions(call, form, 400)
    chosen = list(db.session.scalars(select(Application).where(Application.id.in_(ids),
                                                                  Application.call_id == call.id)))
    if len(chosen) != len(set(ids)):
        abort(404)
    now = utcnow()
    try:
        for application in chosen:
            decisions.decide(current_user, application, ApplicationState(form.decision.data),
                             share_reviewer_comments=form.share_reviewer_comments.data, now=now)
    except ServiceError as error:
        form.form_errors.append(f"{application.company_name}: {error.message}")
        return _render_decisions(call, form, 409)  # the 409 rolls back the whole batch
    flash(_("%(count)d decisions recorded.", count=len(chosen)), "success")
    return redirect(url_for("manage.decisions_page", call_id=call.id))


def _unreleased(call: Call) -> list[Application]:
    return [a for a in call_applications(call) if a.state_enum in DECIDED_STATES and a.decision_released_at is None]


def _render_release_preview(call: Call, form: ReleaseForm, status: int = 200) -> Any:
    """How many emails of each kind go out, and one of each exactly as it will be sent."""
    kinds = decisions.release_summary(call.id)
    return render_template("manage/release_preview.html", call=call, form=form, kinds=kinds,
                           unreleased=sum(kind.decided for kind in kinds)), status


@bp.route("/calls/<int:call_id>/decisions/release", methods=["GET"])
@role_required(Role.MANAGER)
def release_preview(call_id: int) -> Any:
    return _render_release_preview(load_call(call_id), ReleaseForm(formdata=None))


@bp.route("/calls/<int:call_id>/decisions/release", methods=["POST"])
@role_required(Role.MANAGER)
def release(call_id: int) -> Any:
    call = load_call(call_id)
    form = ReleaseForm()
    if not form.validate_on_submit():
        return _render_release_preview(call, form, 400)
    unreleased = _unreleased(call)
    report = decisions.release_decisions(current_user, unreleased, utcnow())
    flash(_("%(count)d decisions released; the emails are on their way.", count=len(report.released)), "success")
    return redirect(url_for("manage.decisions_page", call_id=call.id))
