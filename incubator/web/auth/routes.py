"""Sign-up, sign-in, sign-out and password links."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from incubator.extensions import limiter
from incubator.models import User
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
from incubator.web.auth.throttle import LoginThrottle
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


def carried_next() -> str | None:
    """This page's own ``next`` when it is a safe same-site path, to hand on between the login
    and registration pages: someone who follows an invitation link without an account
    registers, logs in and lands on the invitation, not on their dashboard."""
    target = request.args.get("next")
    return target if target and safe_next_url(target) == target else None


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])  # each valid attempt sends an email
def register() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = RegistrationForm()
    if form.validate_on_submit():
        try:
            # A new account and an address already taken get the same answer; the email sent
            # to the address (welcome, or a note to the owner) is the only difference.
            accounts.register_applicant(form.email.data, form.name.data, form.password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(_("Thank you. We sent an email to %(email)s; log in with your password to continue.",
                    email=form.email.data.strip().lower()), "success")
            return redirect(url_for("auth.login", next=carried_next()))
    return render_template("auth/register.html", form=form, next_url=carried_next()), form_status(form)


def _too_many_attempts(wait: int) -> Any:
    message = ngettext("Too many failed attempts. Try again in %(num)d second.",
                       "Too many failed attempts. Try again in %(num)d seconds.", wait)
    return render_template("errors/error.html", code=429, title=_("Too many attempts"), message=message), \
        429, {"Retry-After": str(wait)}


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    throttle = LoginThrottle(request.form.get("email", ""), request.remote_addr)
    if request.method == "POST" and (wait := throttle.retry_after()):
        return _too_many_attempts(wait)  # even the right password waits, or guessing would go on
    if form.validate_on_submit():
        user = accounts.authenticate(form.email.data, form.password.data)
        if user is None:
            throttle.record_failure()
            form.form_errors.append(_("That email and password do not match an account."))
        else:
            throttle.record_success()
            accounts.record_login(user, form.password.data)
            record = sign_in(user)
            if record.second_factor_at is None:
                # Half signed in: the second factor decides; remember where they were going.
                session[NEXT_AFTER_SECOND_FACTOR] = safe_next_url(request.args.get("next"))
                step = "auth.second_factor" if user.two_factor_enrolled else "auth.two_factor_setup"
                return redirect(url_for(step))
            return redirect(safe_next_url(request.args.get("next")))
    elif request.method == "POST":
        throttle.record_failure()
    return render_template("auth/login.html", form=form, next_url=carried_next()), form_status(form)


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


def _password_link_page(token: str, purpose: str, template: str, done_message: str, *,
                        sign_in_after: bool = False) -> Any:
    try:
        user = accounts.user_for_password_link(token, purpose)
    except ServiceError as error:
        return render_template("auth/link_problem.html", problem=error.message), 400
    form = SetPasswordForm()
    if form.validate_on_submit():
        try:
            user = accounts.set_password_from_link(token, purpose, form.password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            sign_out()
            flash(done_message, "success")
            if sign_in_after:
                return _signed_in_after_invitation(user, form.password.data)
            return redirect(url_for("auth.login"))
    return render_template(template, form=form, user=user), form_status(form)


def _signed_in_after_invitation(user: User, password: str) -> Any:
    """The person just chose their password, which proves the same as a login; staff whose role
    needs a second factor go on to set it up, like after a password login."""
    accounts.record_login(user, password)
    record = sign_in(user)
    if record.second_factor_at is None:
        session[NEXT_AFTER_SECOND_FACTOR] = url_for("main.dashboard")
        return redirect(url_for("auth.second_factor" if user.two_factor_enrolled else "auth.two_factor_setup"))
    return redirect(url_for("main.dashboard"))


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
        _("Your account is ready. Welcome!"), sign_in_after=True,
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
