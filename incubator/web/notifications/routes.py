"""Mail preferences and calendar feeds.

Two pages work without logging in, because the link itself is the credential: the one-click
unsubscribe link in every non-essential email (signed with the secret key; GET shows a button,
POST unsubscribes, as RFC 8058 mail clients do) and the calendar feed (a secret, revocable URL
that calendar apps poll).
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.extensions import csrf
from incubator.links import public_base_url, public_url
from incubator.services import calendars, preferences, tokens
from incubator.web.access import login_required, role_required
from incubator.web.notifications.ics import render_calendar

bp = Blueprint("notifications", __name__)

CALENDAR_ROLES = (Role.REVIEWER, Role.MANAGER)


def _may_have_calendar(user: Any) -> bool:
    return any(user.has_role(role) for role in CALENDAR_ROLES)


def _feed_url(user: Any) -> str | None:
    token = tokens.calendar_token(user)
    if token is None:
        return None
    return public_url("notifications.calendar_feed", user_id=user.id, token=token)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token is the credential; RFC 8058 clients post without our form
def unsubscribe(token: str) -> Any:
    address = tokens.address_from_unsubscribe_token(token)
    user = preferences.user_by_address(address) if address else None
    if user is None:
        message = _("This unsubscribe link is not valid. Copy the whole link from the email, or log in and "
                    "change your mail settings there.")
        return render_template("notifications/unsubscribe.html", problem=message, token=token), 404
    if request.method == "POST":
        preferences.unsubscribe(user)
        return render_template("notifications/unsubscribe.html", done=True, address=user.email, token=token)
    return render_template("notifications/unsubscribe.html", address=user.email, token=token,
                           already=preferences.is_unsubscribed(user))


@bp.route("/notifications/")
@login_required
def settings() -> Any:
    return render_template("notifications/settings.html", unsubscribed=preferences.is_unsubscribed(current_user),
                           may_have_calendar=_may_have_calendar(current_user), feed_url=_feed_url(current_user))


@bp.route("/notifications/subscription", methods=["POST"])
@login_required
def subscription() -> Any:
    choice = request.form.get("reminders", "")
    if choice == "on":
        preferences.resubscribe(current_user)
        flash(_("You will get reminders again."), "success")
    elif choice == "off":
        preferences.unsubscribe(current_user)
        flash(_("You will get no more reminders; essential emails (password, decisions) still come."), "success")
    else:
        abort(400)
    return redirect(url_for("notifications.settings"))


@bp.route("/notifications/calendar", methods=["POST"])
@role_required(*CALENDAR_ROLES)
def calendar_settings() -> Any:
    action = request.form.get("action", "")
    if action == "rotate":
        tokens.rotate_calendar_token(current_user)
        flash(_("Your calendar has a new secret address; the previous one no longer works."), "success")
    elif action == "revoke":
        tokens.revoke_calendar_token(current_user)
        flash(_("Your calendar address no longer works."), "success")
    else:
        abort(400)
    return redirect(url_for("notifications.settings"))


@bp.route("/calendar/<int:user_id>/<token>.ics")
def calendar_feed(user_id: int, token: str) -> Any:
    user = tokens.user_for_calendar_token(user_id, token)
    if user is None or not _may_have_calendar(user):
        abort(404)
    # A calendar app sends no cookie and seldom a useful Accept-Language: the feed is written in
    # the language its owner chose, else the request's.
    with force_locale(user.locale) if user.locale else contextlib.nullcontext():
        if user.has_role(Role.MANAGER):
            name, events = _("OCC Incubator: call milestones"), calendars.manager_calendar()
        else:
            name, events = _("OCC Incubator: my review deadlines"), calendars.reviewer_calendar(user)
    # Event UIDs name our public host, never the one the request claimed.
    domain = urlsplit(public_base_url()).hostname or "occ-incubator"
    body = render_calendar(name, events, domain, utcnow())
    response = Response(body, mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.headers["Content-Disposition"] = 'inline; filename="occ-incubator.ics"'
    return response
