"""Server-side sessions: started at login, checked on every request, revoked when they end.

The session cookie is signed but lives in the browser, so on its own it cannot be taken back.
It therefore carries a random token whose hash names a ``UserSession`` row; revoking the row
ends every copy of the cookie.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from functools import cache

from flask_babel import gettext as _
from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import joinedload

from incubator.database import utcnow
from incubator.extensions import db
from incubator.models import ProgrammeScope, User, UserSession
from incubator.services import ServiceError
from incubator.services.audit import record_event

# last_seen_at is refreshed at most this often, so reading a page is not a write per request.
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)
MAX_USER_AGENT_LENGTH = 300
MAX_ROW_ID = 2**31 - 1


def _printable(text: str | None, limit: int) -> str | None:
    """Headers are the client's to choose: drop control characters (PostgreSQL refuses NUL)."""
    cleaned = "".join(ch for ch in (text or "") if ch.isprintable())[:limit].strip()
    return cleaned or None


def hash_session_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, user_agent: str | None, ip_address: str | None,
                  second_factor_passed: bool) -> str:
    """Record a new signed-in session; returns the raw token for the cookie (never stored)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(UserSession(
        token_hash=hash_session_token(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        user_agent=_printable(user_agent, MAX_USER_AGENT_LENGTH),
        ip_address=_printable(ip_address, 45),
        second_factor_at=now if second_factor_passed else None,
    ))
    db.session.flush()
    return token


@dataclass(frozen=True)
class LiveSession:
    """A live session record (its user loaded with it) and the user's programme-scope rows."""

    record: UserSession
    programme_ids: frozenset[int]


def live_session(user_id: int, token: str | None) -> LiveSession | None:
    """The live session this cookie token names for this user, or None.

    Runs on every signed-in request (the user loader), so the user and their programme-scope
    rows (``services.scope``; none for most people) come in the same statement: one row per
    scope row, or one row with no programme."""
    if not token:
        return None
    rows = db.session.execute(_live_session_statement(),
                              {"token_hash": hash_session_token(token), "user_id": user_id}).all()
    if not rows:
        return None
    return LiveSession(rows[0][0], frozenset(programme_id for _, programme_id in rows if programme_id is not None))


@cache
def _live_session_statement() -> Select[tuple[UserSession, int | None]]:
    # Built once: putting the statement together (and SQLAlchemy's cache key for it) cost as
    # much as running it. Statements are immutable, so threads share it.
    return (
        select(UserSession, ProgrammeScope.programme_id)
        .outerjoin(ProgrammeScope, ProgrammeScope.user_id == UserSession.user_id)
        .options(joinedload(UserSession.user))
        .where(
            UserSession.token_hash == bindparam("token_hash"),
            UserSession.user_id == bindparam("user_id"),
            UserSession.revoked_at.is_(None),
        )
    )


def active_session(user_id: int, token: str | None) -> UserSession | None:
    """The live session record this cookie token names for this user, or None."""
    live = live_session(user_id, token)
    return live.record if live is not None else None


def ended_by_idleness(record: UserSession, now: dt.datetime, idle_limit: dt.timedelta) -> bool:
    """A session left alone longer than ``idle_limit`` ends (a shared or lost laptop does not
    stay signed in to confidential reviews). It is revoked, so the cookie is dead for good;
    ``last_seen_at`` is a minute coarse, which the limit (hours) does not notice."""
    if now - record.last_seen_at <= idle_limit:
        return False
    record.revoked_at = now
    record_event(record.user, "account.session_idle_ended", "user", record.user_id, session=record.id)
    return True


def note_activity(record: UserSession, now: dt.datetime) -> None:
    if now - record.last_seen_at >= LAST_SEEN_RESOLUTION:
        record.last_seen_at = now


def mark_second_factor_passed(record: UserSession) -> None:
    record.second_factor_at = utcnow()


def active_sessions_of(user: User) -> list[UserSession]:
    return list(db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())
    ))


def end_session(record: UserSession) -> None:
    """Logout: this session only."""
    if record.revoked_at is None:
        record.revoked_at = utcnow()


def end_other_session(user: User, session_id: int, current: UserSession) -> None:
    """A user ends one of their other sessions from the account page."""
    if session_id == current.id:
        raise ServiceError(_("To end this session, log out."))
    # Ids beyond the column's range name nothing (and would overflow on PostgreSQL).
    record = db.session.get(UserSession, session_id) if 0 < session_id <= MAX_ROW_ID else None
    if record is None or record.user_id != user.id or record.revoked_at is not None:
        raise ServiceError(_("That session has already ended."))
    record.revoked_at = utcnow()
    record_event(user, "account.session_ended", "user", user.id, session=record.id)


def end_other_sessions(user: User, current: UserSession | None) -> int:
    """Every session of ``user`` except ``current`` (all of them when it is None)."""
    query = update(UserSession).where(
        UserSession.user_id == user.id, UserSession.revoked_at.is_(None)
    ).values(revoked_at=utcnow())
    if current is not None:
        query = query.where(UserSession.id != current.id)
    result = db.session.execute(query.execution_options(synchronize_session="fetch"))
    return result.rowcount or 0


def end_sessions_elsewhere(user: User, current: UserSession) -> int:
    """The user's "log out everywhere else" button."""
    ended = end_other_sessions(user, current)
    if ended:
        record_event(user, "account.sessions_ended", "user", user.id, count=ended)
    return ended


def end_all_sessions(user: User) -> int:
    """Deactivation, erasure, a password reset by link: nobody stays signed in."""
    return end_other_sessions(user, None)
