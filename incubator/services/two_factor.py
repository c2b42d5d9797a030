"""Two-factor sign-in: TOTP enrolment, code checks, recovery codes, disabling and resets."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import pyotp
from flask_babel import gettext as _
from sqlalchemy import delete, select

from incubator.domain.two_factor import normalise_code
from incubator.extensions import db
from incubator.models import RecoveryCode, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.sessions import end_all_sessions

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
RECOVERY_CODE_LENGTH = 10
TOTP_DIGITS = 6
# Clocks drift: the step before and after the current one are accepted too.
TOTP_TOLERANCE_STEPS = 1

WRONG_CODE = "That code is not valid. Type the 6-digit code your app shows now, or a recovery code."


def _hash_recovery_code(user: User, code: str) -> str:
    return hashlib.sha256(f"{user.id}:{normalise_code(code)}".encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def provisioning_uri(user: User, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    if user.totp_secret is None:
        raise ServiceError(_("Start the set-up first."))
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=issuer)


def start_enrolment(user: User) -> str:
    """A secret to enrol with; the same one until enrolment finishes, so a reload is harmless."""
    if user.two_factor_enrolled:
        raise ServiceError(_("Two-factor sign-in is already on for this account."))
    if user.totp_secret is None:
        user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def _matching_totp_step(user: User, code: str, now: dt.datetime) -> int | None:
    """The time step the code belongs to, if it is valid and newer than the last one used."""
    if user.totp_secret is None or len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(user.totp_secret)
    current = totp.timecode(now)
    for step in range(current - TOTP_TOLERANCE_STEPS, current + TOTP_TOLERANCE_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return None  # already used: a code seen over a shoulder cannot be replayed
            return step
    return None


def _accept_totp(user: User, code: str, now: dt.datetime) -> bool:
    step = _matching_totp_step(user, code, now)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def _use_recovery_code(user: User, code: str, now: dt.datetime) -> bool:
    record = db.session.scalar(
        select(RecoveryCode).where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_recovery_code(user, code),
            RecoveryCode.used_at.is_(None),
        )
    )
    if record is None:
        return False
    record.used_at = now
    record_event(user, "account.recovery_code_used", "user", user.id, remaining=remaining_recovery_codes(user))
    return True


def remaining_recovery_codes(user: User) -> int:
    return len(db.session.scalars(
        select(RecoveryCode.id).where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all())


def _replace_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_recovery_code(user, code)) for code in codes)
    db.session.flush()
    return codes


def finish_enrolment(user: User, code: str, now: dt.datetime) -> list[str]:
    """The first code proves the app holds the secret; returns the recovery codes to show once."""
    if user.two_factor_enrolled:
        raise ServiceError(_("Two-factor sign-in is already on for this account."))
    if user.totp_secret is None:
        raise ServiceError(_("Start the set-up first."))
    if not _accept_totp(user, normalise_code(code), now):
        raise ServiceError(_("That code does not match. Check the time on your phone and type the code shown now."),
                           field="code")
    user.two_factor_enrolled_at = now
    codes = _replace_recovery_codes(user)
    record_event(user, "account.two_factor_enrolled", "user", user.id)
    return codes


def check_second_factor(user: User, code: str, now: dt.datetime) -> str:
    """Accept a current TOTP code or an unused recovery code; returns which kind passed."""
    normalised = normalise_code(code)
    if not user.two_factor_enrolled:
        raise ServiceError(_("Two-factor sign-in is not set up for this account."))
    if _accept_totp(user, normalised, now):
        return "totp"
    if len(normalised) == RECOVERY_CODE_LENGTH and _use_recovery_code(user, normalised, now):
        return "recovery"
    raise ServiceError(WRONG_CODE, field="code")


def regenerate_recovery_codes(user: User, code: str, now: dt.datetime) -> list[str]:
    check_second_factor(user, code, now)
    codes = _replace_recovery_codes(user)
    record_event(user, "account.recovery_codes_regenerated", "user", user.id)
    return codes


def disable(user: User, code: str, now: dt.datetime, required: bool) -> None:
    """Only with a current code, and never for a role that must use a second factor."""
    if required:
        raise ServiceError(_("Your role must use two-factor sign-in, so it cannot be turned off."))
    check_second_factor(user, code, now)
    _clear(user)
    record_event(user, "account.two_factor_disabled", "user", user.id)


def reset_by_admin(admin: User, user: User) -> None:
    """Lost phone and recovery codes: an administrator clears the second factor. The user's
    sessions end, and a required role is asked to enrol again at the next sign-in."""
    if not user.two_factor_enrolled and user.totp_secret is None:
        raise ServiceError(_("This account has no two-factor sign-in to reset."))
    _clear(user)
    end_all_sessions(user)
    record_event(admin, "account.two_factor_reset", "user", user.id)


def _clear(user: User) -> None:
    user.totp_secret = None
    user.two_factor_enrolled_at = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
