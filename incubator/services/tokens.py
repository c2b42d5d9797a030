"""Secret links that act without signing in: one-click unsubscribe and the calendar feed.

An unsubscribe token is the signed address (it works as long as the secret key does); a calendar
token is an HMAC of the user id and a nonce kept in their preferences, so rotating or revoking the
nonce makes every earlier feed URL stop working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

from incubator.database import utcnow
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import User
from incubator.models.reminders import NotificationPreference
from incubator.services.audit import record_event
from incubator.services.notifications import outside_request_context
from incubator.services.preferences import preferences_of

# --- Unsubscribe ------------------------------------------------------------------------------

def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="unsubscribe")


def unsubscribe_token(address: str) -> str:
    return _unsubscribe_serializer().dumps(address.lower())


def address_from_unsubscribe_token(token: str) -> str | None:
    try:
        value = _unsubscribe_serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None


def unsubscribe_url(address: str) -> str:
    with outside_request_context():
        return public_url("notifications.unsubscribe", token=unsubscribe_token(address))


# --- Calendar feed ----------------------------------------------------------------------------

def _calendar_token(user_id: int, nonce: str) -> str:
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), f"calendar:{user_id}:{nonce}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def calendar_token(user: User) -> str | None:
    row = db.session.get(NotificationPreference, user.id)
    if row is None or row.calendar_nonce is None:
        return None
    return _calendar_token(user.id, row.calendar_nonce)


def rotate_calendar_token(user: User) -> str:
    """A new secret feed URL; the previous one stops working."""
    row = preferences_of(user)
    row.calendar_nonce = secrets.token_hex(16)
    row.calendar_created_at = row.updated_at = utcnow()
    record_event(user, "calendar.token_rotated", "user", user.id)
    db.session.flush()
    return _calendar_token(user.id, row.calendar_nonce)


def revoke_calendar_token(user: User) -> None:
    row = preferences_of(user)
    row.calendar_nonce = None
    row.calendar_created_at = None
    row.updated_at = utcnow()
    record_event(user, "calendar.token_revoked", "user", user.id)
    db.session.flush()


def user_for_calendar_token(user_id: int, token: str) -> User | None:
    row = db.session.get(NotificationPreference, user_id)
    if row is None or row.calendar_nonce is None:
        return None
    if not hmac.compare_digest(_calendar_token(user_id, row.calendar_nonce), token):
        return None
    user = db.session.get(User, user_id)
    return user if user is not None and user.active else None
