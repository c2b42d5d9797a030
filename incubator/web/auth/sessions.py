"""The account page listing a user's signed-in sessions, where the other ones can be ended."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from incubator.extensions import db
from incubator.models import UserSession
from incubator.services import ServiceError, sessions
from incubator.web.access import login_required
from incubator.web.auth.forms import EndSessionsForm
from incubator.web.auth.routes import bp
from incubator.web.auth.signin import current_session

PAGE_SIZE = 20
MAX_PAGE = 10_000  # far beyond any real list; keeps a hostile ?page= from overflowing OFFSET


@bp.route("/account/sessions")
@login_required
def sessions_page() -> Any:
    return _sessions_page()


def _sessions_page(status: int = 200) -> Any:
    query = (
        select(UserSession)
        .where(UserSession.user_id == current_user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    )
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    page = db.paginate(query, page=number, per_page=PAGE_SIZE, error_out=False)
    return render_template("auth/sessions.html", page=page, current=current_session(),
                           form=EndSessionsForm()), status


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@login_required
def end_session(session_id: int) -> Any:
    if not EndSessionsForm().validate_on_submit():
        abort(400)
    try:
        sessions.end_other_session(current_user, session_id, current_session())
    except ServiceError as error:
        flash(_(error.message), "warning")
        return _sessions_page(409)
    flash(_("That session is ended."), "success")
    return redirect(url_for("auth.sessions_page"))


@bp.route("/account/sessions/end-others", methods=["POST"])
@login_required
def end_other_sessions() -> Any:
    if not EndSessionsForm().validate_on_submit():
        abort(400)
    ended = sessions.end_sessions_elsewhere(current_user, current_session())
    flash(ngettext("%(num)d other session ended.", "%(num)d other sessions ended.", ended), "success")
    return redirect(url_for("auth.sessions_page"))
