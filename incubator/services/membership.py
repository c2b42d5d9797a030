"""Who works on an application: the one place that decides what each person may do with it.

The owner is ``Application.applicant_id`` (as before teams existed, so every query that means
"the company's account" keeps working); colleagues are rows of ``application_members`` as
editors or viewers. Every applicant route, download, export, offer and email asks this module,
so a removed member loses everything at once and a new surface cannot forget a rule.

Each public function that changes something is one state change: it checks who acts, flushes,
and leaves the commit to the caller; emails go through the outbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from incubator.domain.membership import Permission, allows
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.links import public_url
from incubator.models import Application, ApplicationMember, Call, JoinRequest, MemberInvitation, User
from incubator.services import ServiceError
from incubator.services.audit import record_event
from incubator.services.notifications import call_title, queue_email

# A team is a handful of founders; the bound keeps the team page and every email fan-out small.
MAX_MEMBERS = 20


class NotMember(ServiceError):
    """The person is not (or no longer) on the application: the web layer answers 404."""


class NotPermitted(ServiceError):
    """A member whose role does not allow this (a viewer editing, say): the web layer answers 403."""


def membership(user: User, application: Application) -> ApplicationMember | None:
    return next((member for member in application.members if member.user_id == user.id), None)


def role_of(user: User, application: Application) -> str | None:
    """'owner', 'editor', 'viewer', or None for anyone else."""
    if not getattr(user, "is_authenticated", True):
        return None
    if application.applicant_id == user.id:
        return "owner"
    member = membership(user, application)
    return member.role if member else None


def can(user: User, application: Application, permission: Permission) -> bool:
    member = membership(user, application)
    return allows(role_of(user, application), bool(member and member.may_respond), permission)


def ensure(user: User, application: Application, permission: Permission) -> None:
    """Refuse anyone off the team as "not found" and a member without the right as "not allowed"."""
    if role_of(user, application) is None:
        raise NotMember(_("This is not your application."))
    if not can(user, application, permission):
        raise NotPermitted(_("Your role on this application does not allow this."))


def application_for(user: User, application_id: int, permission: Permission) -> Application:
    application = db.session.get(Application, application_id)
    if application is None:
        raise NotMember(_("This is not your application."))
    ensure(user, application, permission)
    return application


def applications_of(user: User) -> Sequence[Application]:
    """Every application the person owns or is a member of, newest first."""
    member_of = select(ApplicationMember.application_id).where(ApplicationMember.user_id == user.id)
    return db.session.scalars(
        select(Application)
        .where(or_(Application.applicant_id == user.id, Application.id.in_(member_of)))
        .order_by(Application.created_at.desc(), Application.id.desc())
    ).all()


def team_ids(application: Application) -> list[int]:
    return [application.applicant_id, *(member.user_id for member in application.members)]


def recipients(application: Application) -> list[User]:
    """Whom emails about the application go to: the owner first, then the members; erased or
    deactivated accounts are left out."""
    people = [application.applicant, *(member.user for member in application.members)]
    return [person for person in people if person.active]


def dedupe_for(key: str | None, person: User, application: Application) -> str | None:
    """One outbox key per recipient; the owner keeps the key used before teams existed."""
    if key is None or person.id == application.applicant_id:
        return key
    return f"{key}:member-{person.id}"


# ---------------------------------------------------------------------------------- invitations


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(owner: User, application: Application, email: str, role: str, now: dt.datetime) -> MemberInvitation:
    """Email a link that lets whoever holds it join as ``role`` once they sign in."""
    ensure(owner, application, Permission.MANAGE)
    if role not in ("editor", "viewer"):
        raise ServiceError(_("Choose editor or viewer."), field="role")
    _ensure_room(application)
    email = email.strip().lower()
    if any(person.email == email for person in [application.applicant, *(m.user for m in application.members)]):
        raise ServiceError(_("This person is already on the application."), field="email")
    token = secrets.token_urlsafe(32)
    max_age = int(current_app.config.get("INVITATION_MAX_AGE", 604800))
    invitation = MemberInvitation(application_id=application.id, email=email, role=role,
                                  token_hash=_token_hash(token), invited_by_id=owner.id, created_at=now,
                                  expires_at=now + dt.timedelta(seconds=max_age))
    db.session.add(invitation)
    db.session.flush()
    record_event(owner, "application.member_invited", "application", application.id, role=role)
    queue_email(email, _l("Join the application of %(company)s", company=_company(application)),
                "member_invitation", kind="member_invitation", locale=owner.locale, inviter=owner,
                application=application, call=call_title(application.call), role=role,
                link=public_url("apply.invitation", token=token), expires_at=invitation.expires_at)
    return invitation


def _company(application: Application) -> str:
    return application.company_name or call_title(application.call)


def find_invitation(token: str, now: dt.datetime) -> MemberInvitation | None:
    """An unused, unexpired invitation for this token, else None."""
    if not token or len(token) > 100:
        return None
    invitation = db.session.scalar(select(MemberInvitation).where(MemberInvitation.token_hash == _token_hash(token)))
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
        return None
    return invitation


def accept_invitation(user: User, token: str, now: dt.datetime) -> Application:
    invitation = find_invitation(token, now)
    if invitation is None:
        raise ServiceError(_("This invitation link is not valid: it was used already or it expired. "
                             "Ask the owner of the application for a new one."))
    if user.role != Role.APPLICANT.value:
        raise ServiceError(_("Only startup accounts can join an application."))
    application = db.session.get(Application, invitation.application_id)
    assert application is not None  # the invitation is deleted with its application
    invitation.accepted_at = now
    if role_of(user, application) is None:
        _add_member(application, user, invitation.role, now)
    db.session.flush()
    record_event(user, "application.member_joined", "application", application.id, role=invitation.role)
    return application


def _ensure_room(application: Application) -> None:
    if len(application.members) >= MAX_MEMBERS:
        raise ServiceError(ngettext("An application has at most %(num)d members besides its owner.",
                                    "An application has at most %(num)d members besides its owner.", MAX_MEMBERS))


def _add_member(application: Application, user: User, role: str, now: dt.datetime) -> None:
    _ensure_room(application)
    application.members.append(ApplicationMember(user_id=user.id, user=user, role=role, joined_at=now))
    try:
        db.session.flush()
    except IntegrityError as exc:  # joined meanwhile by another request
        db.session.rollback()
        raise ServiceError(_("This person is already on the application.")) from exc


# -------------------------------------------------------------------------------- join requests


def application_of_organisation(call: Call, country: str, org_number: str) -> Application | None:
    return db.session.scalar(select(Application).where(
        Application.call_id == call.id, Application.country == country, Application.org_number == org_number))


def request_to_join(user: User, call: Call, country: str, org_number: str, now: dt.datetime) -> JoinRequest:
    """A second founder asks the owner of their company's application to add them."""
    if user.role != Role.APPLICANT.value:
        raise ServiceError(_("Only startup accounts can join an application."))
    application = application_of_organisation(call, country, org_number)
    if application is None:
        raise ServiceError(_("No application for this organisation number exists in this call."))
    if role_of(user, application) is not None:
        raise ServiceError(_("You are already on this application."))
    existing = db.session.scalar(select(JoinRequest).where(JoinRequest.application_id == application.id,
                                                           JoinRequest.user_id == user.id))
    if existing is not None:
        if existing.state == "pending":
            return existing
        existing.state, existing.created_at, existing.decided_at = "pending", now, None
        request = existing
    else:
        request = JoinRequest(application_id=application.id, user_id=user.id, state="pending", created_at=now)
        db.session.add(request)
    db.session.flush()
    record_event(user, "application.join_requested", "application", application.id)
    owner = application.applicant
    if owner.active:
        queue_email(owner.email, _l("%(name)s asks to join your application", name=user.name), "join_request",
                    kind="join_request", locale=owner.locale, requester=user, application=application,
                    call=call_title(application.call),
                    link=public_url("apply.members", application_id=application.id))
    return request


def pending_requests(application: Application) -> Sequence[JoinRequest]:
    return db.session.scalars(select(JoinRequest).where(
        JoinRequest.application_id == application.id, JoinRequest.state == "pending").order_by(JoinRequest.id)
    ).all()


def decide_request(owner: User, application: Application, request_id: int, approve: bool,
                   now: dt.datetime) -> None:
    ensure(owner, application, Permission.MANAGE)
    request = db.session.get(JoinRequest, request_id)
    if request is None or request.application_id != application.id or request.state != "pending":
        raise ServiceError(_("This request was answered already."))
    request.state = "approved" if approve else "declined"
    request.decided_at = now
    if approve and role_of(request.user, application) is None:
        _add_member(application, request.user, "editor", now)
    db.session.flush()
    record_event(owner, "application.join_" + request.state, "application", application.id,
                 member_id=request.user_id)


# ------------------------------------------------------------------------------- the team itself


def _member(application: Application, member_id: int) -> ApplicationMember:
    member = next((m for m in application.members if m.id == member_id), None)
    if member is None:
        raise ServiceError(_("This person is no longer on the application."))
    return member


def remove_member(owner: User, application: Application, member_id: int) -> None:
    ensure(owner, application, Permission.MANAGE)
    member = _member(application, member_id)
    application.members.remove(member)
    db.session.flush()
    record_event(owner, "application.member_removed", "application", application.id, member_id=member.user_id)


def set_member_role(owner: User, application: Application, member_id: int, role: str,
                    may_respond: bool) -> None:
    ensure(owner, application, Permission.MANAGE)
    if role not in ("editor", "viewer"):
        raise ServiceError(_("Choose editor or viewer."), field="role")
    member = _member(application, member_id)
    member.role, member.may_respond = role, may_respond
    db.session.flush()
    record_event(owner, "application.member_changed", "application", application.id, member_id=member.user_id,
                 role=role, may_respond=may_respond)


def leave(user: User, application: Application) -> None:
    if role_of(user, application) == "owner":
        raise ServiceError(_("As the owner you cannot leave; transfer the ownership to a member first."))
    member = membership(user, application)
    if member is None:
        raise NotMember(_("This is not your application."))
    application.members.remove(member)
    db.session.flush()
    record_event(user, "application.member_left", "application", application.id)


def transfer_ownership(owner: User, application: Application, member_id: int) -> None:
    """The member becomes the owner; the previous owner stays on as an editor allowed to respond."""
    ensure(owner, application, Permission.MANAGE)
    member = _member(application, member_id)
    owns_another = db.session.scalar(select(Application.id).where(
        Application.call_id == application.call_id, Application.applicant_id == member.user_id))
    if owns_another is not None:
        raise ServiceError(_("%(name)s already owns another application in this call and cannot own two.",
                             name=member.user.name))
    new_owner = member.user
    application.members.remove(member)
    db.session.flush()
    application.applicant_id, application.applicant = new_owner.id, new_owner
    application.members.append(ApplicationMember(user_id=owner.id, user=owner, role="editor", may_respond=True))
    db.session.flush()
    record_event(owner, "application.ownership_transferred", "application", application.id,
                 new_owner_id=new_owner.id)


def _successor(application: Application) -> ApplicationMember | None:
    return next((member for member in application.members if member.role == "editor" and member.user.active), None)


def handover_problem(application: Application) -> str | None:
    """Why the owner's account cannot be erased yet because of the team, or None: a team keeps
    its application under its longest-standing editor, but viewers alone cannot own it."""
    if application.members and _successor(application) is None:
        return _("Your application %(company)s has members but no editor who could own it; "
                 "transfer the ownership or remove the members first.", company=_company(application))
    return None


def hand_over(user: User, application: Application) -> None:
    """The owner's account is being erased: the team keeps the application (see above)."""
    successor = _successor(application)
    if successor is None:
        return
    transfer_ownership(user, application, successor.id)
    leave(user, application)
