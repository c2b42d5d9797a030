"""The person's own data: what we hold, a copy to download, and erasure of the account."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Length

from incubator.database import utcnow
from incubator.services import ServiceError
from incubator.services import privacy as service
from incubator.services.applications import applications_of
from incubator.services.visibility import applicant_view
from incubator.web.access import login_required
from incubator.web.apply import bp
from incubator.web.auth.signin import sign_out
from incubator.web.forms import form_status, show_service_error


class EraseAccountForm(FlaskForm):
    password = PasswordField(
        _l("Your password"),
        validators=[DataRequired(message=_l("Enter your password to confirm.")), Length(max=200)],
        description=_l("Erasure cannot be undone."),
        render_kw={"autocomplete": "current-password"},
    )
    confirm = BooleanField(_l("I understand that my account is erased for good"),
                           validators=[DataRequired(message=_l("Tick the box to confirm the erasure."))])
    submit = SubmitField(_l("Erase my account"))


def _privacy_page(form: EraseAccountForm, status: int = 200) -> Any:
    # Only what blocks erasure: an owned application in review with no team to hand it to.
    in_review = [application for application in applications_of(current_user)
                 if application.applicant_id == current_user.id and not application.members
                 and applicant_view(application).in_review]
    return render_template("apply/privacy.html", form=form, in_review=in_review), status


@bp.route("/account/privacy")
@login_required
def privacy() -> Any:
    return _privacy_page(EraseAccountForm())


@bp.route("/account/export")
@login_required
def export_data() -> Any:
    data = service.export_personal_data(current_user)
    filename = f"my-data-{utcnow():%Y-%m-%d}.zip"
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
    })


def _confirm_page(form: EraseAccountForm, status: int = 200) -> Any:
    return render_template("apply/erase_confirm.html", form=form,
                           applications=applications_of(current_user)), status


@bp.route("/account/erase", methods=["GET"])
@login_required
def confirm_erase_account() -> Any:
    """The confirmation step: what erasure does, then the password and an explicit tick."""
    return _confirm_page(EraseAccountForm())


@bp.route("/account/erase", methods=["POST"])
@login_required
def erase_account() -> Any:
    form = EraseAccountForm()
    if not form.validate_on_submit():
        return _confirm_page(form, form_status(form))
    try:
        service.erase_account(current_user, form.password.data, utcnow())
    except ServiceError as error:
        # A wrong password is bad input (400); an application under review, or the last
        # administrator, is a state that refuses the change for now (409).
        show_service_error(form, error)
        return _confirm_page(form, 400 if error.field else 409)
    sign_out()
    flash(_("Your account is erased. Thank you for your interest in the OCC Incubator."), "info")
    return redirect(url_for("main.index"))
