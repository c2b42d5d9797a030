"""The front page and each role's dashboard."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from incubator.database import utcnow
from incubator.domain.applications import STEP_SLUGS
from incubator.domain.roles import Role
from incubator.extensions import LOCALE_COOKIE
from incubator.models import Application
from incubator.services import ServiceError, accounts, applications, queries
from incubator.web.access import login_required
from incubator.web.auth.routes import safe_next_url

bp = Blueprint("main", __name__)


@bp.route("/")
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    now = utcnow()
    return render_template("main/index.html", calls=queries.open_calls(now), now=now)


@bp.route("/language", methods=["POST"])
def choose_language() -> Any:
    """The switcher in every page's header: anyone may pick, signed in or not (CSRF-checked)."""
    locale = request.form.get("locale", "")
    response = redirect(safe_next_url(request.form.get("next")))
    if locale not in current_app.config["SUPPORTED_LOCALES"]:
        flash(_("That language is not offered."), "error")
        return response
    if current_user.is_authenticated:
        try:
            accounts.set_locale(current_user, locale)
        except ServiceError as error:
            flash(error.message, "error")
            return response
    response.set_cookie(LOCALE_COOKIE, locale, max_age=int(dt.timedelta(days=365).total_seconds()),
                        secure=request.is_secure, httponly=True, samesite="Lax")
    return response


@bp.route("/dashboard")
@login_required
def dashboard() -> Any:
    now = utcnow()
    role = current_user.role_enum
    if role is Role.REVIEWER:
        return redirect(url_for("review.assignments"))
    if role in (Role.MANAGER, Role.ADMIN):
        return redirect(url_for("manage.overview"))
    own = applications.applications_of(current_user)
    next_steps = {application.id: next_step(application) for application in own}
    return render_template("main/applicant_dashboard.html", calls=queries.open_calls(now), now=now,
                           applications=own, next_steps=next_steps)


def next_step(application: Application) -> str:
    """The first step with answers missing, or the review step when all are given."""
    missing = applications.missing_answers(application)
    return next((slug for slug in STEP_SLUGS if slug in missing and slug != "review"), "review")
