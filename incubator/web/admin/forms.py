from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from incubator.domain.roles import INVITABLE_ROLES, Role
from incubator.web.forms import email_field

ROLE_LABELS = {
    Role.APPLICANT: _l("Applicant"),
    Role.REVIEWER: _l("Reviewer"),
    Role.MANAGER: _l("Programme manager"),
    Role.ADMIN: _l("Administrator"),
}


class InviteForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(message=_l("Enter a name.")), Length(max=120)])
    email = email_field()
    role = SelectField(
        _l("Role"),
        choices=[(role.value, ROLE_LABELS[role]) for role in INVITABLE_ROLES],
        validate_choice=True,
    )
    submit = SubmitField(_l("Send invitation"))


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class AccountForm(FlaskForm):
    role = SelectField(_l("Role"), choices=[(role.value, ROLE_LABELS[role]) for role in Role])
    active = BooleanField(_l("Account active (can log in)"))
    # Choices are the programmes, set by the view.
    programmes = MultiCheckboxField(
        _l("Limited to programmes"), coerce=int,
        description=_l("A programme manager or reviewer limited to programmes sees only their applications, "
                       "rankings, slots, offers and residents. None ticked: every programme."))
    submit = SubmitField(_l("Save"))


class ResetTwoFactorForm(FlaskForm):
    """The user lost both phone and recovery codes; they enrol again at their next sign-in."""

    submit = SubmitField(_l("Reset two-factor sign-in"))
