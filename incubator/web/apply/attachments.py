"""Upload, remove and download the documents of an application.

The attachments step page itself is shown by ``routes.step``; this module handles the posts
from it and the downloads. Another person's application or document is "not found", so ids
reveal nothing.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from incubator.database import utcnow
from incubator.domain.membership import Permission
from incubator.extensions import db
from incubator.models import Application, Attachment
from incubator.services import ServiceError
from incubator.services import attachments as service
from incubator.services.applications import NotAllowed
from incubator.storage import file_storage
from incubator.web.access import login_required
from incubator.web.apply import bp
from incubator.web.apply.forms import AttachmentUploadForm
from incubator.web.apply.steps import load_own_application, step_context
from incubator.web.forms import show_service_error


def _own_application(application_id: int) -> Application:
    return load_own_application(application_id, Permission.EDIT)


def _attachments_page(application: Application, form: AttachmentUploadForm, status: int) -> Any:
    return render_template("apply/step_attachments.html", upload_form=form,
                           **step_context(application, "attachments")), status


def _back_to_step(application: Application) -> Any:
    return redirect(url_for("apply.step", application_id=application.id, step="attachments"))


@bp.route("/applications/<int:application_id>/attachments", methods=["POST"])
@login_required
def upload_attachment(application_id: int) -> Any:
    application = _own_application(application_id)
    form = AttachmentUploadForm()
    if not form.validate_on_submit():
        return _attachments_page(application, form, 400)
    upload = form.file.data
    try:
        attachment = service.add_attachment(application, current_user, form.kind.data, upload.filename,
                                            upload.stream, utcnow())
    except NotAllowed:
        abort(404)
    except ServiceError as error:
        show_service_error(form, error)
        # The rollback expired the application; it reloads with what is really saved.
        return _attachments_page(application, form, 400 if error.field else 409)
    flash(_("Uploaded %(name)s.", name=attachment.original_filename), "success")
    return _back_to_step(application)


@bp.route("/applications/<int:application_id>/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required
def delete_attachment(application_id: int, attachment_id: int) -> Any:
    application = _own_application(application_id)
    attachment = service.find_attachment(application, attachment_id) or abort(404)
    name = attachment.original_filename
    try:
        service.remove_attachment(application, current_user, attachment, utcnow())
    except NotAllowed:
        abort(404)
    except ServiceError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return _attachments_page(application, AttachmentUploadForm(), 409)
    flash(_("Removed %(name)s.", name=name), "info")
    return _back_to_step(application)


@bp.route("/applications/<int:application_id>/attachments/<int:attachment_id>")
@login_required
def download_attachment(application_id: int, attachment_id: int) -> Any:
    attachment: Attachment | None = db.session.get(Attachment, attachment_id)
    if (attachment is None or attachment.application_id != application_id
            or not service.can_download_attachment(current_user, attachment)):
        abort(404)
    storage = file_storage()
    if not storage.exists(attachment.storage_key):
        current_app.logger.error("Attachment %s has no stored file %s", attachment.id, attachment.storage_key)
        abort(404)
    service.record_download(current_user, attachment)
    response = send_file(
        storage.open(attachment.storage_key),
        mimetype="application/pdf",
        as_attachment=True,
        # Cleaned again on the way out: names stored before the cleaning rules still reach a browser.
        download_name=service.display_filename(attachment.original_filename),
        etag=attachment.sha256,
        max_age=0,
    )
    # Opened in a browser tab anyway, the PDF runs without scripts, forms or our origin.
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response
