"""Two-factor pages: the code step after the password, enrolment, recovery codes, turning off."""

from __future__ import annotations

from typing import Any

import segno
from flask import (
    current_app,
    flash,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from incubator.database import utcnow
from incubator.extensions import limiter
from incubator.services import ServiceError, sessions, two_factor
from incubator.web.access import login_required
from incubator.web.auth.forms import (
    DisableTwoFactorForm,
    EnrolTwoFactorForm,
    RegenerateRecoveryCodesForm,
    SecondFactorForm,
)
from incubator.web.auth.routes import NEXT_AFTER_SECOND_FACTOR, bp
from incubator.web.auth.signin import current_session, is_required_role, second_factor_pending
from incubator.web.forms import form_status, show_service_error

# What a half-signed-in user may reach: the code step, enrolment, logging out, and the assets.
ALLOWED_BEFORE_SECOND_FACTOR = frozenset({
    "auth.second_factor", "auth.two_factor_setup", "auth.logout", "static", "bootstrap.static",
})


def _code_attempt_limit() -> str:
    return f"{current_app.config['TWO_FACTOR_FAILURES_PER_MINUTE']} per minute"


def _code_attempt_key() -> str:
    # Per account: guessing 6 digits must stay slow whichever address the guesses come from.
    return f"second-factor:{current_user.get_id() if current_user.is_authenticated else request.remote_addr}"


def _code_failed(_response: Response) -> bool:
    return bool(g.get("code_failed"))


throttle_code_attempts = limiter.limit(
    _code_attempt_limit, key_func=_code_attempt_key, methods=["POST"], deduct_when=_code_failed
)


@bp.before_app_request
def require_second_factor() -> Any:
    """Until the second factor passes, every page leads to the code step (or to enrolment)."""
    if request.endpoint in ALLOWED_BEFORE_SECOND_FACTOR or not current_user.is_authenticated:
        return None
    if not second_factor_pending(current_user):
        return None
    target = "auth.second_factor" if current_user.two_factor_enrolled else "auth.two_factor_setup"
    return redirect(url_for(target))


@bp.app_context_processor
def second_factor_context() -> dict[str, Any]:
    # Emails are rendered from the scheduler and the CLI too, where nobody is signed in.
    if not has_request_context():
        return {"second_factor_pending": False}
    pending = current_user.is_authenticated and second_factor_pending(current_user)
    return {"second_factor_pending": pending}


def _after_second_factor() -> Response:
    return redirect(session.pop(NEXT_AFTER_SECOND_FACTOR, None) or url_for("main.dashboard"))


def _fail_code(form: Any, error: ServiceError) -> None:
    g.code_failed = True
    show_service_error(form, error)


@bp.route("/login/code", methods=["GET", "POST"])
@login_required
@throttle_code_attempts
def second_factor() -> Any:
    if not second_factor_pending(current_user):
        return redirect(url_for("main.dashboard"))
    if not current_user.two_factor_enrolled:
        return redirect(url_for("auth.two_factor_setup"))
    form = SecondFactorForm()
    if form.validate_on_submit():
        try:
            kind = two_factor.check_second_factor(current_user, form.code.data, utcnow())
        except ServiceError as error:
            _fail_code(form, error)
        else:
            sessions.mark_second_factor_passed(current_session())
            if kind == "recovery":
                left = two_factor.remaining_recovery_codes(current_user)
                flash(ngettext("Recovery code used; %(num)d is left. Make new ones on your two-factor page.",
                               "Recovery code used; %(num)d are left. Make new ones on your two-factor page.",
                               left), "warning")
            return _after_second_factor()
    elif request.method == "POST":
        g.code_failed = True
    return render_template("auth/second_factor.html", form=form), form_status(form)


def _qr_code_data_uri(uri: str) -> str:
    # Drawn here as SVG: the secret never leaves the service for a QR-code website.
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def _show_recovery_codes(codes: list[str], continue_url: str) -> Any:
    return render_template("auth/recovery_codes.html", codes=codes, continue_url=continue_url)


@bp.route("/account/two-factor/setup", methods=["GET", "POST"])
@login_required
@throttle_code_attempts
def two_factor_setup() -> Any:
    if current_user.two_factor_enrolled:
        return redirect(url_for("auth.two_factor_settings"))
    if request.method == "POST" and current_user.totp_secret is None:
        # No key was shown yet, so no app can hold it: show one first.
        return redirect(url_for("auth.two_factor_setup"))
    form = EnrolTwoFactorForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.finish_enrolment(current_user, form.code.data, utcnow())
        except ServiceError as error:
            _fail_code(form, error)
        else:
            pending = current_session().second_factor_at is None
            sessions.mark_second_factor_passed(current_session())
            continue_url = (session.pop(NEXT_AFTER_SECOND_FACTOR, None) if pending else None) or url_for(
                "auth.two_factor_settings")
            return _show_recovery_codes(codes, continue_url)
    elif request.method == "POST":
        g.code_failed = True
    secret = two_factor.start_enrolment(current_user)
    uri = two_factor.provisioning_uri(current_user, current_app.config["TWO_FACTOR_ISSUER"])
    return render_template(
        "auth/two_factor_setup.html", form=form, secret=secret, qr_code=_qr_code_data_uri(uri),
        required=is_required_role(current_user.role_enum),
    ), form_status(form)


def _two_factor_page(regenerate: RegenerateRecoveryCodesForm | None = None,
                     disable: DisableTwoFactorForm | None = None, status: int = 200) -> Any:
    return render_template(
        "auth/two_factor.html",
        enrolled=current_user.two_factor_enrolled,
        required=is_required_role(current_user.role_enum),
        remaining=two_factor.remaining_recovery_codes(current_user) if current_user.two_factor_enrolled else 0,
        regenerate_form=regenerate or RegenerateRecoveryCodesForm(formdata=None),
        disable_form=disable or DisableTwoFactorForm(formdata=None),
    ), status


@bp.route("/account/two-factor")
@login_required
def two_factor_settings() -> Any:
    return _two_factor_page()


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
@login_required
@throttle_code_attempts
def regenerate_recovery_codes() -> Any:
    form = RegenerateRecoveryCodesForm()
    if form.validate_on_submit():
        try:
            codes = two_factor.regenerate_recovery_codes(current_user, form.code.data, utcnow())
        except ServiceError as error:
            _fail_code(form, error)
        else:
            return _show_recovery_codes(codes, url_for("auth.two_factor_settings"))
    else:
        g.code_failed = True
    return _two_factor_page(regenerate=form, status=400)


@bp.route("/account/two-factor/disable", methods=["POST"])
@login_required
@throttle_code_attempts
def disable_two_factor() -> Any:
    form = DisableTwoFactorForm()
    if form.validate_on_submit():
        try:
            two_factor.disable(current_user, form.code.data, utcnow(),
                               required=is_required_role(current_user.role_enum))
        except ServiceError as error:
            _fail_code(form, error)
        else:
            flash(_("Two-factor sign-in is off."), "info")
            return redirect(url_for("auth.two_factor_settings"))
    else:
        g.code_failed = True
    return _two_factor_page(disable=form, status=400)
