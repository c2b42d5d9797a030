"""Accounts: registration, sign-in, password changes, invitations and roles."""

from __future__ import annotations

from flask import current_app, has_request_context
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from incubator.database import utcnow
from incubator.domain.passwords import password_problems
from incubator.domain.roles import INVITABLE_ROLES, Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import User, UserSession
from incubator.services import ServiceError, sessions
from incubator.services.audit import record_event
from incubator.services.notifications import queue_email
from incubator.services.passwords import (
    INVITATION_PURPOSE,
    RESET_PURPOSE,
    fingerprint_matches,
    hash_password,
    make_password_link_token,
    needs_rehash,
    read_password_link_token,
    verify_password,
)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def _check_password(password: str, email: str) -> None:
    problems = password_problems(password, email=email)
    if problems:
        raise ServiceError(" ".join(problems), field="password")


def _check_email_free(email: str) -> None:
    """For administrators and operators, who may know which addresses have accounts."""
    taken = db.session.scalar(select(func.count()).select_from(User).where(User.email == email))
    if taken:
        raise ServiceError(
            _("An account with this email already exists. Log in, or reset your password."),
            field="email",
        )


def register_applicant(email: str, name: str, password: str) -> User | None:
    """A startup contact creates their own account; the new user, or None if the email is taken.

    The caller must answer both cases alike: whether an address has an account is not for the
    person at the keyboard to learn. Both get an email at the address instead (a welcome, or a
    note to the owner with a reset link), and both hash the password, so neither the answer nor
    its timing tells them apart. Password rules depend on the typed email only, never on
    whether it exists, so their messages reveal nothing either.
    """
    email = normalise_email(email)
    _check_password(password, email)
    existing = find_user_by_email(email)
    if existing is not None:
        hash_password(password)  # the same work as a real registration, so timing matches
        _tell_owner_about_registration_attempt(existing)
        return None
    user = User(
        email=email,
        name=name.strip(),
        role=Role.APPLICANT.value,
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
        # Emails follow the language the person registered in until they pick another.
        locale=str(get_locale()) if has_request_context() else None,
    )
    db.session.add(user)
    db.session.flush()
    record_event(user, "account.registered", "user", user.id)
    queue_email(user.email, _l("Your OCC Incubator account is ready"), "welcome", kind="welcome", user=user,
                link=public_url("auth.login"))
    return user


def _tell_owner_about_registration_attempt(user: User) -> None:
    """The owner learns that someone used their address, with a way back in if it was them."""
    can_reset = user.active and user.password_hash is not None
    queue_email(
        user.email,
        _l("Someone tried to register with your email address"),
        "registration_attempt",
        kind="registration_attempt",
        locale=user.locale,
        user=user,
        link=public_url("auth.reset_password", token=make_password_link_token(user, RESET_PURPOSE))
        if can_reset else None,
        login_link=public_url("auth.login"),
        valid_minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
    )
    record_event(None, "account.registration_attempted", "user", user.id)


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None; the same work is done either way."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    if user is None or not user.active:
        return None
    return user


def record_login(user: User, password: str) -> None:
    user.last_login_at = utcnow()
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    record_event(user, "account.logged_in", "user", user.id)


def change_password(user: User, current_password: str, new_password: str,
                    keep_session: UserSession | None = None) -> None:
    """Every other session ends: whoever knew the old password is signed out everywhere."""
    if not verify_password(user.password_hash, current_password):
        raise ServiceError(_("Your current password is not correct."), field="current_password")
    _check_password(new_password, user.email)
    _set_password(user, new_password)
    sessions.end_other_sessions(user, keep_session)
    record_event(user, "account.password_changed", "user", user.id)


def _set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()


def request_password_reset(email: str) -> None:
    """Email a reset link if the account exists; say nothing either way to the requester."""
    user = find_user_by_email(email)
    if user is None or not user.active or user.password_hash is None:
        return
    token = make_password_link_token(user, RESET_PURPOSE)
    queue_email(
        user.email,
        _l("Reset your password"),
        "password_reset",
        kind="password_reset",
        locale=user.locale,
        user=user,
        link=public_url("auth.reset_password", token=token),
        valid_minutes=current_app.config["PASSWORD_RESET_MAX_AGE"] // 60,
    )
    record_event(user, "account.password_reset_requested", "user", user.id)


def user_for_password_link(token: str, purpose: str) -> User:
    """The user a reset or invitation link belongs to, or a ServiceError saying why not."""
    max_age = current_app.config[
        "PASSWORD_RESET_MAX_AGE" if purpose == RESET_PURPOSE else "INVITATION_MAX_AGE"
    ]
    check = read_password_link_token(token, purpose, max_age)
    if check.problem:
        raise ServiceError(check.problem)
    user = db.session.get(User, check.user_id)
    if user is None or not user.active:
        raise ServiceError(_("This link is not valid. Check that you copied all of it."))
    if not fingerprint_matches(user, check.fingerprint):
        raise ServiceError(_("This link has already been used. Ask for a new one if you need it."))
    return user


def set_password_from_link(token: str, purpose: str, new_password: str) -> User:
    user = user_for_password_link(token, purpose)
    _check_password(new_password, user.email)
    _set_password(user, new_password)
    sessions.end_all_sessions(user)
    action = "account.password_reset" if purpose == RESET_PURPOSE else "account.invitation_accepted"
    record_event(user, action, "user", user.id)
    return user


def set_locale(user: User, locale: str) -> None:
    """Remember the language picked with the switcher; emails to the person follow it."""
    if locale not in current_app.config["SUPPORTED_LOCALES"]:
        raise ServiceError(_("That language is not offered."), field="locale")
    user.locale = locale
    db.session.flush()


def invite_user(admin: User, email: str, name: str, role: Role) -> User:
    """An administrator invites a reviewer, manager or administrator by email."""
    if role not in INVITABLE_ROLES:
        raise ServiceError(_("Only reviewers, managers and administrators are invited."), field="role")
    email = normalise_email(email)
    _check_email_free(email)
    user = User(email=email, name=name.strip(), role=role.value, invited_by_id=admin.id)
    db.session.add(user)
    db.session.flush()
    token = make_password_link_token(user, INVITATION_PURPOSE)
    queue_email(
        user.email,
        # The invitee has no language yet: the invitation is written in the one the admin uses.
        _l("You are invited to the OCC residency service"),
        "invitation",
        kind="invitation",
        user=user,
        inviter=admin,
        link=public_url("auth.accept_invitation", token=token),
        valid_days=current_app.config["INVITATION_MAX_AGE"] // 86400,
    )
    record_event(admin, "account.invited", "user", user.id, role=role.value)
    return user


def _active_admin_count() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.active.is_(True))
    ) or 0


def change_role(admin: User, user: User, role: Role) -> None:
    if user.role == role.value:
        return
    if user.role == Role.ADMIN.value and _active_admin_count() <= 1:
        raise ServiceError(_("This is the last administrator; make someone else one first."), field="role")
    previous = user.role
    user.role = role.value
    record_event(admin, "account.role_changed", "user", user.id, old=previous, new=role.value)


def set_account_active(admin: User, user: User, active: bool) -> None:
    if user.active == active:
        return
    if user.id == admin.id and not active:
        raise ServiceError(_("You cannot deactivate your own account."))
    if not active and user.role == Role.ADMIN.value and _active_admin_count() <= 1:
        raise ServiceError(_("This is the last administrator; make someone else one first."))
    user.active = active
    if not active:
        sessions.end_all_sessions(user)
    record_event(admin, "account.activated" if active else "account.deactivated", "user", user.id)


def create_account(email: str, name: str, role: Role, password: str) -> User:
    """An operator creates an account from the command line (e.g. the first administrator)."""
    email = normalise_email(email)
    _check_email_free(email)
    _check_password(password, email)
    user = User(email=email, name=name.strip(), role=role.value,
                password_hash=hash_password(password), password_changed_at=utcnow())
    db.session.add(user)
    db.session.flush()
    record_event(None, "account.created_from_cli", "user", user.id, role=role.value)
    return user
