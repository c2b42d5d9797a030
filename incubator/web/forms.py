"""Form pieces shared by the blueprints."""

from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, Length

from incubator.domain.passwords import MAX_PASSWORD_LENGTH
from incubator.extensions import db
from incubator.services import ServiceError


def _strip(value: str | None) -> str | None:
    # Pasted addresses often carry spaces; they are never part of the address.
    return value.strip() if isinstance(value, str) else value


def email_field(label: str | None = None) -> EmailField:
    return EmailField(
        label or _l("Email"),
        validators=[
            DataRequired(message=_l("Enter your email address.")),
            Length(max=254, message=_l("An email address has at most 254 characters.")),
            Email(message=_l("Enter a valid email address, like name@example.com."),
                  check_deliverability=False),
        ],
        filters=[_strip],
        render_kw={"autocomplete": "email"},
    )


def new_password_field(label: str | None = None) -> PasswordField:
    return PasswordField(
        label or _l("New password"),
        validators=[
            DataRequired(message=_l("Choose a password.")),
            Length(max=MAX_PASSWORD_LENGTH),
        ],
        description=_l("At least 10 characters; a phrase of a few words works well."),
        render_kw={"autocomplete": "new-password"},
    )


def form_status(form: FlaskForm) -> int:
    """400 when a posted form is shown again with errors, so refused input is never a 200."""
    if request.method == "POST" and (form.errors or form.form_errors):
        return 400
    return 200


def show_service_error(form: FlaskForm, error: ServiceError) -> None:
    """Put a refused change's reason next to its field, or at the top of the form."""
    db.session.rollback()  # a refused change leaves nothing half-done behind
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
