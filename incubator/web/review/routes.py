"""Reviewers' pages: their assignments, an application with the review form, conflicts, profile.

Every page is for reviewers only. An application not assigned to the signed-in reviewer, or
one they have a conflict with, is "not found" on every route, so ids reveal nothing.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import groupby
from operator import attrgetter
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application, Review
from incubator.services import ServiceError, committee, conflicts, reviewer_list, reviews
from incubator.services.applications import NotAllowed
from incubator.services.reviews import InvalidAnswers
from incubator.web.access import role_required
from incubator.web.forms import form_status, show_service_error
from incubator.web.page_memo import render_memoized
from incubator.web.review.forms import (
    ConflictForm,
    DiscussionForm,
    ProfileForm,
    ReviewForm,
    review_form_for,
    show_number,
)
from incubator.web.templating import link_before_id

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.route("/")
@role_required(Role.REVIEWER)
def assignments() -> Any:
    page = reviewer_list.assignment_page(current_user, request.args.get("page", 1, type=int) or 1)
    # Rows come ordered by call, so grouping keeps each call's rows together and in due order.
    groups = [list(call_rows) for _, call_rows in groupby(page.rows, key=attrgetter("call_id"))]
    now = utcnow()
    # The page shows its rows, the pager and whether a profile is missing, and the time decides
    # only each row's "overdue" badge: the same of all of these is the same page.
    shown = (tuple(page.rows), page.page, page.pages, page.total, page.has_profile,
             tuple(row.is_overdue(now) for row in page.rows))
    return render_memoized("review/assignments.html", shown, groups=groups, page=page, now=now,
                           has_profile=page.has_profile, application_link=link_before_id("review.application"))


def load_application(application_id: int) -> Application:
    """The application if the signed-in reviewer may open it; anything else is 404, not 403."""
    application = db.session.get(Application, application_id)
    if application is None or not reviews.reviewer_may_open(current_user, application):
        abort(404)
    return application


def _saved_answers(review: Review | None) -> dict[str, Any]:
    if review is None:
        return {}
    data: dict[str, Any] = {f"score_{score.criterion_id}": score.value for score in review.scores}
    data.update(comment_committee=review.comment_committee, comment_applicant=review.comment_applicant,
                confidence=str(review.confidence) if review.confidence else "")
    return data


def _review_form(application: Application, *, from_request: bool) -> ReviewForm:
    """On the review POST, what the reviewer typed (nothing they typed is lost); otherwise what
    is saved."""
    criteria = application.call.criteria
    if from_request:
        return review_form_for(criteria)
    return review_form_for(criteria, formdata=None, data=_saved_answers(reviews.review_of(current_user, application)))


def _read_only(form: FlaskForm) -> None:
    for field in form:
        field.render_kw = {**(field.render_kw or {}), "disabled": True}


def _page(application: Application, review_form: ReviewForm, conflict_form: ConflictForm, status: int = 200,
          discussion_form: DiscussionForm | None = None) -> Any:
    now = utcnow()
    discussing = committee.may_discuss(current_user, application)
    editable = reviews.review_is_open(application, now)
    if not editable:
        _read_only(review_form)
    others = [(review, {score.criterion_id: score.value for score in review.scores})
              for review in reviews.other_reviews(current_user, application)]
    return render_template(
        "review/application.html",
        application=application,
        call=application.call,
        review=reviews.review_of(current_user, application),
        assignment=reviews.assignment_of(current_user, application),
        form=review_form,
        conflict_form=conflict_form,
        editable=editable,
        deadline_passed=reviews.deadline_passed(application.call, now),
        others_visible=reviews.others_reviews_visible(current_user, application),
        others=others,
        total_weight=sum((criterion.weight for criterion in application.call.criteria), Decimal(0)),
        number=show_number,
        now=now,
        discussing=discussing,
        thread=committee.thread(current_user, application) if discussing else [],
        discussion_form=discussion_form or DiscussionForm(formdata=None),
    ), status


def _show_review_errors(form: FlaskForm, error: ServiceError) -> int:
    """Each refused answer beside its field; 400 for answers to fix, 409 for a refused moment."""
    if not isinstance(error, InvalidAnswers):
        show_service_error(form, error)
        return 400 if error.field else 409
    db.session.rollback()
    for field_name, message in error.errors.items():
        field = getattr(form, field_name, None)
        if field is not None:
            field.errors = [*field.errors, message]
        else:
            form.form_errors.append(message)
    return 400


@bp.route("/applications/<int:application_id>", methods=["GET", "POST"])
@role_required(Role.REVIEWER)
def application(application_id: int) -> Any:
    application = load_application(application_id)
    form = _review_form(application, from_request=request.method == "POST")
    status = 200
    if form.validate_on_submit():
        submit = bool(form.submit_review.data)
        try:
            reviews.save_review(current_user, application, form.scores(), form.comment_committee.data or "",
                                form.comment_applicant.data or "", form.confidence_value(), submit=submit,
                                now=utcnow())
        except NotAllowed:
            abort(404)
        except ServiceError as error:
            status = _show_review_errors(form, error)
        else:
            flash(_("Your review is submitted.") if submit else _("Draft saved."), "success")
            return redirect(url_for("review.application", application_id=application_id))
    return _page(application, form, ConflictForm(formdata=None), max(status, form_status(form)))


@bp.route("/applications/<int:application_id>/conflict", methods=["POST"])
@role_required(Role.REVIEWER)
def declare_conflict(application_id: int) -> Any:
    application = load_application(application_id)
    form = ConflictForm()
    status = 200
    if form.validate_on_submit():
        try:
            conflicts.declare_conflict(current_user, application, form.reason.data or "",
                                       whole_company=form.whole_company.data, now=utcnow())
        except ServiceError as error:
            show_service_error(form, error)
            status = 400 if error.field else 409
        else:
            # The company is not named: the application is gone from the reviewer's pages.
            flash(_("Conflict of interest recorded. The application is no longer among your reviews."), "info")
            return redirect(url_for("review.assignments"))
    return _page(application, _review_form(application, from_request=False), form, max(status, form_status(form)))


@bp.route("/profile", methods=["GET", "POST"])
@role_required(Role.REVIEWER)
def profile() -> Response | Any:
    form = ProfileForm() if request.method == "POST" else ProfileForm(data=_saved_profile())
    status = 200
    if form.validate_on_submit():
        try:
            reviews.update_reviewer_profile(current_user, form.focus_areas.data or [], form.expertise.data or "",
                                            form.max_load.data, form.affiliation.data or "",
                                            reminders_paused=form.reminders_paused.data, now=utcnow())
        except NotAllowed:
            abort(403)
        except ServiceError as error:
            status = _show_review_errors(form, error)
        else:
            flash(_("Your reviewer profile is saved."), "success")
            return redirect(url_for("review.profile"))
    return render_template("review/profile.html", form=form), max(status, form_status(form))


def _saved_profile() -> dict[str, Any]:
    saved = reviews.reviewer_profile(current_user)
    return {
        "focus_areas": list(saved.focus_areas) if saved else [],
        "expertise": saved.expertise if saved else "",
        "max_load": saved.max_load if saved else reviews.DEFAULT_MAX_LOAD,
        "affiliation": current_user.affiliation or "",
        "reminders_paused": saved.reminders_paused if saved else False,
    }


@bp.route("/applications/<int:application_id>/discussion", methods=["POST"])
@role_required(Role.REVIEWER)
def discuss(application_id: int) -> Any:
    """Post to the committee's discussion, open once the reviewer's own review is submitted."""
    application = load_application(application_id)
    form = DiscussionForm()
    status = 400
    if form.validate_on_submit():
        try:
            committee.post_comment(current_user, application, form.body.data or "", utcnow())
        except committee.NotAllowed as error:
            show_service_error(form, error)
            status = 403
        except ServiceError as error:
            show_service_error(form, error)
        else:
            return redirect(url_for("review.application", application_id=application.id) + "#discussion")
    return _page(application, _review_form(application, from_request=False), ConflictForm(formdata=None),
                 status, discussion_form=form)
