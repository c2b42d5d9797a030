from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length

from incubator.web.forms import email_field, new_password_field


class RegistrationForm(FlaskForm):
    name = StringField(
        _l("Your name"),
        validators=[DataRequired(message=_l("Enter your name.")), Length(max=120)],
        render_kw={"autocomplete": "name"},
    )
    email = email_field()
    password = new_password_field(_l("Password"))
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Create account"))


class LoginForm(FlaskForm):
    email = email_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(message=_l("Enter your password.")), Length(max=200)],
        render_kw={"autocomplete": "current-password"},
    )
    submit = SubmitField(_l("Log in"))


class ForgotPasswordForm(FlaskForm):
    email = email_field()
    submit = SubmitField(_l("Email me a reset link"))


class SetPasswordForm(FlaskForm):
    password = new_password_field()
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Set password"))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(message=_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
    password = new_password_field()
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField(_l("Change password"))


class LogoutForm(FlaskForm):
    """Logging out is a POST with a CSRF token, so no other site can sign a user out."""

    submit = SubmitField(_l("Log out"))


class SecondFactorForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(message=_l("Enter the code from your app or a recovery code.")),
                    Length(max=40)],
        description=_l("The 6-digit code your authenticator app shows now, or one of your recovery codes."),
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"},
    )
    submit = SubmitField(_l("Verify"))


class EnrolTwoFactorForm(FlaskForm):
    code = StringField(
        _l("Code from your app"),
        validators=[DataRequired(message=_l("Enter the 6-digit code your app shows.")), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
    submit = SubmitField(_l("Turn on two-factor sign-in"))


class RegenerateRecoveryCodesForm(FlaskForm):
    code = StringField(
        _l("Current code"),
        validators=[DataRequired(message=_l("Enter a current code to confirm.")), Length(max=40)],
        render_kw={"autocomplete": "one-time-code"},
    )
    submit = SubmitField(_l("Make new recovery codes"))


class DisableTwoFactorForm(FlaskForm):
    code = StringField(
        _l("Current code"),
        validators=[DataRequired(message=_l("Enter a current code to confirm.")), Length(max=40)],
        render_kw={"autocomplete": "one-time-code"},
    )
    submit = SubmitField(_l("Turn off two-factor sign-in"))


class EndSessionsForm(FlaskForm):
    """Ending sessions is a POST with a CSRF token; the session id is in the URL."""

    submit = SubmitField(_l("End"))
