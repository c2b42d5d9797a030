"""Form pieces shared by the blueprints."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Email, Length, ValidationError

from incubator.domain.passwords import MAX_PASSWORD_LENGTH
from incubator.extensions import db
from incubator.services import ServiceError


def translated_choices(labels: dict[str, str]) -> list[tuple[str, Any]]:
    """Choices from a domain label table (marked with ``N_``), worded when the form renders."""
    return [(value, _l(label)) for value, label in labels.items()]  # noqa: INT001 - extracted via N_


def country_choices() -> list[tuple[str, Any]]:
    """Countries by ISO code, each named in the reader's language when the form renders."""
    from flask_babel.speaklater import LazyString

    from incubator.domain.applications import COUNTRY_NAMES
    from incubator.web.templating import country_name

    return [(code, LazyString(country_name, code)) for code, _name in sorted(COUNTRY_NAMES.items(),
                                                                              key=lambda item: item[1])]


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


class DecimalBounds:
    """A decimal the database column can hold: within [minimum, maximum], at most ``places``
    decimals. Without it 1E+100 overflowed a NUMERIC column and 1E-1000000 broke arithmetic."""

    def __init__(self, minimum: Decimal | str, maximum: Decimal | str, places: int) -> None:
        self.minimum, self.maximum, self.places = Decimal(minimum), Decimal(maximum), places

    def __call__(self, form: FlaskForm, field: Any) -> None:
        value = field.data
        if value is None:
            return
        if not value.is_finite() or not self.minimum <= value <= self.maximum:
            raise ValidationError(_l("Give a number from %(minimum)s to %(maximum)s.",
                                     minimum=self.minimum, maximum=self.maximum))
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -self.places:
            raise ValidationError(_l("Use at most %(places)d decimals.", places=self.places))


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
