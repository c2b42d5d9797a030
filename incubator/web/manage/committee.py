"""The committee's view of one application: reviews, score summary, discussion and note."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from incubator.database import utcnow
from incubator.domain.applications import ApplicationState
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Application
from incubator.services import ServiceError, committee
from incubator.web.access import role_required
from incubator.web.forms import show_service_error
from incubator.web.manage.routes import bp


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Add to the discussion"), render_kw={"rows": 3}, validators=[
        DataRequired(message=_l("Write something before posting.")),
        Length(max=committee.MAX_COMMENT_LENGTH)])
    submit = SubmitField(_l("Post"))


class NoteForm(FlaskForm):
    internal = TextAreaField(_l("Decision rationale (committee only)"), render_kw={"rows": 4},
                             validators=[Optional(), Length(max=committee.MAX_NOTE_LENGTH)])
    shared = TextAreaField(_l("Part shared with the applicant (optional)"), render_kw={"rows": 3},
                           description=_l("Shown on the applicant's page and in the decision email, only once "
                                          "the decision is released."),
                           validators=[Optional(), Length(max=committee.MAX_NOTE_LENGTH)])
    submit = SubmitField(_l("Save note"))


def load_application(application_id: int) -> Application:
    application = db.session.get(Application, application_id)
    if application is None or application.state == ApplicationState.DRAFT.value:
        abort(404)  # a draft is the applicant's alone
    return application


def render_committee(application: Application, status: int = 200, **forms: Any) -> Any:
    note = committee.note_of(application)
    context: dict[str, Any] = {
        "application": application, "call": application.call, "reviews": committee.reviews_of(application),
        "row": committee.ranking_row(application), "thread": committee.thread(current_user, application),
        "note": note, "comment_form": CommentForm(formdata=None),
        "note_form": NoteForm(formdata=None, data={"internal": note.internal if note else "",
                                                   "shared": note.shared if note else ""}),
    }
    context.update(forms)
    return render_template("manage/committee.html", **context), status


@bp.route("/applications/<int:application_id>/committee")
@role_required(Role.MANAGER)
def committee_view(application_id: int) -> Any:
    return render_committee(load_application(application_id))


@bp.route("/applications/<int:application_id>/committee/comments", methods=["POST"])
@role_required(Role.MANAGER)
def committee_comment(application_id: int) -> Any:
    application = load_application(application_id)
    form = CommentForm()
    if form.validate_on_submit():
        try:
            committee.post_comment(current_user, application, form.body.data or "", utcnow())
        except ServiceError as error:
            show_service_error(form, error)
        else:
            return redirect(url_for("manage.committee_view", application_id=application.id) + "#discussion")
    return render_committee(application, 400, comment_form=form)


@bp.route("/applications/<int:application_id>/committee/note", methods=["POST"])
@role_required(Role.MANAGER)
def committee_note(application_id: int) -> Any:
    application = load_application(application_id)
    form = NoteForm()
    status = 400
    if form.validate_on_submit():
        try:
            committee.save_note(current_user, application, form.internal.data or "", form.shared.data or "",
                                utcnow())
        except ServiceError as error:
            show_service_error(form, error)
            status = 409
        else:
            flash(_("Committee note saved."), "success")
            return redirect(url_for("manage.committee_view", application_id=application.id))
    return render_committee(application, status, note_form=form)
