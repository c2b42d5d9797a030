"""Managers assign reviewers to a call's applications, by hand or automatically, and record
conflicts of interest. Thin: load (404), check access, validate the form, call one service.

The board is bounded whatever the call's size: a keyset page of applications and one of
reviewers, searched and filtered on the server; the application and the reviewer of a form are
typed (name, number, email) and resolved on the server, with suggestions from two small JSON
look-ups that static/js/suggest.js shows as the manager types. No page carries a list of every
application or every reviewer."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from incubator.database import utcnow
from incubator.domain.applications import STATE_LABELS
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Assignment, Call, User
from incubator.services import ServiceError
from incubator.services.assignment_board import (
    BOARD_STATES,
    MAX_SEARCH_LENGTH,
    BoardFilter,
    application_named,
    application_page,
    application_reference,
    reviewer_named,
    reviewer_page,
    reviewer_reference,
    suggest_applications,
    suggest_reviewers,
)
from incubator.services.assignments import (
    AssignmentRefused,
    AutoAssignReport,
    application_label,
    assign_reviewer,
    auto_assign,
    unassign_reviewer,
)
from incubator.services.conflicts import set_conflict_by_manager
from incubator.web.access import role_required
from incubator.web.forms import show_service_error
from incubator.web.inputs import query_int
from incubator.web.manage.routes import bp

# A reference is "Name (#id)"; a company name has at most 200 characters.
REFERENCE_LENGTH = 220


def _application_field() -> StringField:
    return StringField(_l("Application"), validators=[
        DataRequired(message=_l("Choose an application.")),
        Length(max=REFERENCE_LENGTH, message=_l("Choose an application of this call that awaits reviews."))],
        description=_l("Type a company name or an application number and pick from the suggestions."))


def _reviewer_field() -> StringField:
    return StringField(_l("Reviewer"), validators=[
        DataRequired(message=_l("Choose a reviewer.")),
        Length(max=REFERENCE_LENGTH, message=_l("Choose one of the active reviewers."))],
        description=_l("Type a name or an email address and pick from the suggestions."))


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


# ------------------------------------------------------------------------------------ page


def _board_filter() -> BoardFilter:
    state = request.args.get("state", "")
    return BoardFilter(search=request.args.get("q", "").strip()[:MAX_SEARCH_LENGTH],
                       state=state if state in BOARD_STATES else "",
                       missing_only=request.args.get("missing") == "1")


def _query_args(board: BoardFilter, reviewer_search: str) -> dict[str, str]:
    """The page's search and filters for its links (empty ones left out of the URL)."""
    given = {"q": board.search, "state": board.state, "missing": "1" if board.missing_only else "",
             "rq": reviewer_search}
    return {key: value for key, value in given.items() if value}


def _forms(call: Call, **given: FlaskForm) -> dict[str, FlaskForm]:
    """Every form of the page, the posted one kept (with its errors), the others fresh.

    Prefixes keep field names and HTML ids apart: two forms have an application field.
    """
    forms = {
        "assign_form": given.get("assign_form") or AssignForm(prefix="assign", formdata=None),
        "auto_form": given.get("auto_form") or AutoAssignForm(prefix="auto", formdata=None),
        "conflict_form": given.get("conflict_form") or ConflictForm(prefix="conflict", formdata=None),
        "unassign_form": given.get("unassign_form") or UnassignForm(formdata=None),
    }
    _prefill(call, forms)
    for name in ("assign_form", "conflict_form"):
        _suggesting(forms[name], call)
    return forms


def _prefill(call: Call, forms: dict[str, FlaskForm]) -> None:
    """"Assign a reviewer" beside an application fills in that application (works without JS)."""
    picked = query_int("pick", 0, minimum=0)
    if not picked or request.method != "GET":
        return
    application = db.session.get(Application, picked)
    if application is not None and application.call_id == call.id:
        forms["assign_form"].application_id.data = application_reference(application)
        forms["conflict_form"].application_id.data = application_reference(application)


def _suggesting(form: FlaskForm, call: Call) -> None:
    """Tie the two fields to their look-ups (static/js/suggest.js fills each field's datalist)."""
    for field, endpoint in ((form.application_id, "manage.assignment_application_suggestions"),
                            (form.reviewer_id, "manage.assignment_reviewer_suggestions")):
        field.render_kw = {"list": f"{field.id}-suggestions", "autocomplete": "off",
                           "data-suggest": url_for(endpoint, call_id=call.id)}
    # Reviewers are suggested for the application chosen beside them (a partner's reviewer
    # only for applications to the partner's programmes).
    form.reviewer_id.render_kw["data-suggest-for"] = form.application_id.id


def _page(call: Call, status: int = 200, **forms: FlaskForm) -> Any:
    board = _board_filter()
    reviewer_search = request.args.get("rq", "").strip()[:MAX_SEARCH_LENGTH]
    after = query_int("after", 0, minimum=0) or None
    reviewers_after = query_int("reviewers_after", 0, minimum=0) or None
    return render_template(
        "manage/assignments.html", call=call, board=board, board_states=BOARD_STATES,
        applications=application_page(call, board, after), after=after,
        reviewers=reviewer_page(call, reviewer_search, reviewers_after), reviewers_after=reviewers_after,
        reviewer_search=reviewer_search, query_args=_query_args(board, reviewer_search), **_forms(call, **forms),
    ), status


def _call_or_404(call_id: int) -> Call:
    return db.session.get(Call, call_id) or abort(404)


def _chosen(form: AssignForm | ConflictForm, call: Call) -> tuple[Application, User] | None:
    """The application and reviewer the form names, or None with each field's reason set."""
    found: list[Any] = []
    for field, look_up in ((form.application_id, lambda text: application_named(call, text)),
                           (form.reviewer_id, reviewer_named)):
        try:
            found.append(look_up(field.data or ""))
        except ServiceError as error:
            field.errors = [*field.errors, error.message]
    return (found[0], found[1]) if len(found) == 2 else None


def _status_of(error: ServiceError) -> int:
    return 409 if isinstance(error, AssignmentRefused) else 400


@bp.route("/calls/<int:call_id>/assignments/applications.json")
@role_required(Role.MANAGER)
def assignment_application_suggestions(call_id: int) -> Any:
    """Up to 20 of the call's applications awaiting reviews that match ``q``."""
    call = _call_or_404(call_id)
    found = suggest_applications(call, request.args.get("q", ""))
    return jsonify([{"value": application_reference(a), "label": _(STATE_LABELS[a.state])}  # noqa: INT001 - N_ labels
                    for a in found])


@bp.route("/calls/<int:call_id>/assignments/reviewers.json")
@role_required(Role.MANAGER)
def assignment_reviewer_suggestions(call_id: int) -> Any:
    """Up to 20 active reviewers that match ``q`` (by name, email or number) and may review the
    application named in ``for`` (the form's other field), else one of the call's."""
    call = _call_or_404(call_id)
    try:
        application = application_named(call, request.args.get("for", "")[:200]) if request.args.get("for") else None
    except ServiceError:
        application = None  # half typed: suggest for the call
    found = suggest_reviewers(request.args.get("q", ""), call=call, application=application)
    return jsonify([{"value": reviewer_reference(user), "label": user.email} for user in found])


@bp.route("/calls/<int:call_id>/assignments", methods=["GET", "POST"])
@role_required(Role.MANAGER)
def assignments(call_id: int) -> Any:
    """The assignment board; a POST assigns one reviewer by hand."""
    call = _call_or_404(call_id)
    if request.method != "POST":
        return _page(call)
    form = AssignForm(prefix="assign")
    chosen = _chosen(form, call) if form.validate() else None
    if chosen is None:
        return _page(call, 400, assign_form=form)
    application, reviewer = chosen
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
    form = AutoAssignForm(prefix="auto")
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
    form = ConflictForm(prefix="conflict")
    chosen = _chosen(form, call) if form.validate_on_submit() else None
    if chosen is None:
        return _page(call, 400, conflict_form=form)
    application, reviewer = chosen
    try:
        set_conflict_by_manager(current_user, reviewer, application, form.reason.data,
                                whole_company=form.whole_company.data, now=utcnow())
    except ServiceError as error:
        show_service_error(form, error)
        return _page(call, _status_of(error), conflict_form=form)
    flash(_("Conflict recorded: %(reviewer)s will not review %(application)s.", reviewer=reviewer.name,
            application=application_label(application)), "success")
    return redirect(url_for("manage.assignments", call_id=call.id))
