"""Signing a browser in and out, tied to a server-side session record."""

from __future__ import annotations

from flask import current_app, flash, g, request, session
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from incubator.database import utcnow
from incubator.domain.roles import Role
from incubator.domain.two_factor import second_factor_required
from incubator.extensions import db
from incubator.models import User, UserSession
from incubator.services import scope, sessions

SESSION_TOKEN_KEY = "_session_token"


def needs_second_factor(user: User) -> bool:
    """Staff in the required roles, and anyone who chose to enrol."""
    required = second_factor_required(user.role_enum, current_app.config["TWO_FACTOR_REQUIRED_ROLES"])
    return required or user.two_factor_enrolled


def sign_in(user: User) -> UserSession:
    """Password accepted: start a session, half-authenticated if a second factor is due."""
    token = sessions.start_session(
        user,
        user_agent=request.headers.get("User-Agent"),
        ip_address=request.remote_addr,
        second_factor_passed=not needs_second_factor(user),
    )
    login_user(user)
    session[SESSION_TOKEN_KEY] = token
    record = sessions.active_session(user.id, token)
    assert record is not None  # just flushed
    g.user_session = record
    return record


def sign_out() -> None:
    record = current_session()
    if record is not None:
        sessions.end_session(record)
    logout_user()
    session.pop(SESSION_TOKEN_KEY, None)
    g.pop("user_session", None)


def current_session() -> UserSession | None:
    # Asking current_user runs the user loader, which finds this request's session record.
    if not current_user.is_authenticated:
        return None
    return g.get("user_session")


def load_signed_in_user(user_id: str) -> User | None:
    """Flask-Login's user loader: the user only while their session record is live."""
    if not user_id.isdigit() or len(user_id) > 18:
        return None
    live = sessions.live_session(int(user_id), session.get(SESSION_TOKEN_KEY))
    if live is None or not live.record.user.active:
        return None
    record = live.record
    now = utcnow()
    if sessions.ended_by_idleness(record, now, current_app.config["SESSION_IDLE_TIMEOUT"]):
        session.pop(SESSION_TOKEN_KEY, None)
        flash(_("You were signed out after a long time without activity. Sign in again to go on."), "info")
        return None
    sessions.note_activity(record, now)
    g.user_session = record
    scope.note_loaded_scope(record.user_id, live.programme_ids)
    return db.session.get(User, record.user_id)


def second_factor_pending(user: User) -> bool:
    record = current_session()
    return record is not None and record.second_factor_at is None and needs_second_factor(user)


def is_required_role(role: Role) -> bool:
    return second_factor_required(role, current_app.config["TWO_FACTOR_REQUIRED_ROLES"])
