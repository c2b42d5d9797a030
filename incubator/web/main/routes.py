"""The front page and each role's dashboard."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user

from incubator.database import utcnow
from incubator.domain.applications import STEP_SLUGS
from incubator.domain.roles import Role
from incubator.models import Application
from incubator.services import applications, queries
from incubator.web.access import login_required

bp = Blueprint("main", __name__)


@bp.route("/")
def index() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    now = utcnow()
    return render_template("main/index.html", calls=queries.open_calls(now), now=now)


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
