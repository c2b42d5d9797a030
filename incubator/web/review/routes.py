"""Reviewers' pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.services import queries
from incubator.web.access import role_required

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.route("/")
@role_required(Role.REVIEWER)
def assignments() -> Any:
    return render_template("review/assignments.html", calls=queries.all_calls(), now=utcnow())
