"""Administrators: failed emails with their error, and sending them again."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import OutboundEmail
from incubator.services import ServiceError
from incubator.services.outbox import resend_all_failed, resend_failed
from incubator.web.access import role_required
from incubator.web.admin.routes import PAGE_SIZE, _page_number, bp


@bp.route("/outbox/failed")
@role_required(Role.ADMIN)
def outbox_failed() -> Any:
    query = select(OutboundEmail).where(OutboundEmail.status == "failed").order_by(OutboundEmail.id.desc())
    page = db.paginate(query, page=_page_number(), per_page=PAGE_SIZE, error_out=False)
    return render_template("admin/outbox_failed.html", page=page)


@bp.route("/outbox/<int:email_id>/resend", methods=["POST"])
@role_required(Role.ADMIN)
def outbox_resend(email_id: int) -> Any:
    try:
        email = resend_failed(current_user, email_id)
    except ServiceError as error:
        db.session.rollback()
        status = 404 if db.session.get(OutboundEmail, email_id) is None else 409
        return render_template("errors/error.html", code=status, title=_("Not sent again"),
                               message=_(error.message)), status
    flash(_("The email to %(address)s is queued again.", address=email.to_address), "success")
    return redirect(url_for("admin.outbox_failed"))


@bp.route("/outbox/failed/resend", methods=["POST"])
@role_required(Role.ADMIN)
def outbox_resend_all() -> Any:
    count = resend_all_failed(current_user)
    flash(_("%(count)d failed emails are queued again.", count=count), "success")
    return redirect(url_for("admin.outbox_failed"))
