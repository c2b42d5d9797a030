"""Password hashing with argon2id, and the signed single-use links that set a password."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from incubator.models import User

# Verified when the email is unknown, so a wrong email costs as long as a wrong password.
_DUMMY_PASSWORD = "not-the-password-of-anyone"


def _hasher() -> PasswordHasher:
    if current_app.config.get("FAST_PASSWORD_HASHING"):
        # Tests hash thousands of passwords; production keeps argon2's recommended cost.
        return _FAST_HASHER
    return _HASHER


_HASHER = PasswordHasher()
_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@cache
def _dummy_hash(fast: bool) -> str:
    """Hashed once per cost setting, on first use: verifying against it is what an unknown email costs."""
    return (_FAST_HASHER if fast else _HASHER).hash(_DUMMY_PASSWORD)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    hasher = _hasher()
    try:
        matches = hasher.verify(password_hash or _dummy_hash(hasher is _FAST_HASHER), password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


# --- password links ---------------------------------------------------------------------

RESET_PURPOSE = "password-reset"
INVITATION_PURPOSE = "invitation"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"incubator.{purpose}")


def _password_fingerprint(user: User) -> str:
    # Part of the signed link: once the password changes, the link stops matching, which is
    # what makes it single-use without a table of spent tokens.
    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:20]


def make_password_link_token(user: User, purpose: str) -> str:
    return _serializer(purpose).dumps({"uid": user.id, "fp": _password_fingerprint(user)})


@dataclass(frozen=True)
class TokenCheck:
    user_id: int | None
    fingerprint: str | None
    problem: str | None  # why the link cannot be used, in words for the person


def read_password_link_token(token: str, purpose: str, max_age: int) -> TokenCheck:
    try:
        payload = _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired:
        return TokenCheck(None, None, "This link has expired. Ask for a new one.")
    except BadSignature:
        return TokenCheck(None, None, "This link is not valid. Check that you copied all of it.")
    if not isinstance(payload, dict) or not isinstance(payload.get("uid"), int):
        return TokenCheck(None, None, "This link is not valid. Check that you copied all of it.")
    return TokenCheck(payload["uid"], str(payload.get("fp")), None)


def fingerprint_matches(user: User, fingerprint: str | None) -> bool:
    return fingerprint == _password_fingerprint(user)
