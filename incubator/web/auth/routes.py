"""Sign-up, sign-in, sign-out and password links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from incubator.extensions import limiter
from incubator.services import ServiceError, accounts
from incubator.services.passwords import INVITATION_PURPOSE, RESET_PURPOSE
from incubator.web.access import login_required
from incubator.web.auth.forms import (
    ChangePasswordForm,
    ForgotPasswordForm,
    LoginForm,
    LogoutForm,
    RegistrationForm,
    SetPasswordForm,
)
from incubator.web.auth.signin import current_session, sign_in, sign_out
from incubator.web.forms import form_status, show_service_error

bp = Blueprint("auth", __name__)

NEXT_AFTER_SECOND_FACTOR = "_next_after_second_factor"


def safe_next_url(target: str | None) -> str:
    """Only same-site paths; an open redirect would turn our login page into a phishing aid."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("main.dashboard")


def _failed_login_key() -> str:
    return "login-email:" + (request.form.get("email", "").strip().lower() or "-")


def _per_email_limit() -> str:
    return f"{current_app.config['LOGIN_FAILURES_PER_MINUTE']} per minute"


def _per_address_limit() -> str:
    # An office behind one address may hold many users; the per-email limit is the tight one.
    return f"{current_app.config['LOGIN_FAILURES_PER_MINUTE'] * 5} per minute"


def _login_failed(_response: Response) -> bool:
    return bool(g.get("login_failed"))


@bp.route("/register", methods=["GET", "POST"])
def register() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            user = accounts.register_applicant(form.email.data, form.name.data, form.password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            sign_in(user)
            flash(_("Welcome! Your account is ready."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/register.html", form=form), form_status(form)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_per_email_limit, key_func=_failed_login_key, methods=["POST"],
               deduct_when=_login_failed)
@limiter.limit(_per_address_limit, methods=["POST"], deduct_when=_login_failed)
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            g.login_failed = True
            form.form_errors.append(_("That email and password do not match an account."))
        else:
            accounts.record_login(user, form.password.data)
            record = sign_in(user)
            if record.second_factor_at is None:
                # Half signed in: the second factor decides; remember where they were going.
                session[NEXT_AFTER_SECOND_FACTOR] = safe_next_url(request.args.get("next"))
                step = "auth.second_factor" if user.two_factor_enrolled else "auth.two_factor_setup"
                return redirect(url_for(step))
            return redirect(safe_next_url(request.args.get("next")))
    elif request.method == "POST":
        g.login_failed = True
    return render_template("auth/login.html", form=form), form_status(form)


@bp.route("/logout", methods=["POST"])
def logout() -> Any:
    form = LogoutForm()
    if form.validate_on_submit():
        sign_out()
        flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        flash(
            _("If an account uses that address, a reset link is on its way. It works once, for an hour."),
            "info",
        )
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot_password.html", form=form), form_status(form)


def _password_link_page(token: str, purpose: str, template: str, done_message: str) -> Any:
    try:
        user = accounts.user_for_password_link(token, purpose)
    except ServiceError as error:
        return render_template("auth/link_problem.html", problem=error.message), 400
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password_from_link(token, purpose, form.password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            sign_out()
            flash(done_message, "success")
            return redirect(url_for("auth.login"))
    return render_template(template, form=form, user=user), form_status(form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str) -> Any:
    return _password_link_page(
        token, RESET_PURPOSE, "auth/reset_password.html",
        _("Your password is changed. Log in with the new one."),
    )


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def accept_invitation(token: str) -> Any:
    return _password_link_page(
        token, INVITATION_PURPOSE, "auth/accept_invitation.html",
        _("Your account is ready. Log in with your new password."),
    )


@bp.route("/password/change", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.password.data,
                                     keep_session=current_session())
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Your password is changed."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("auth/change_password.html", form=form), form_status(form)
