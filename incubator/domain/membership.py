"""Who may do what on an application worked on by a team: pure rules, no database.

The owner does everything; editors edit and submit; viewers read. Answering an offer and
withdrawing are the owner's, or a member's the owner allowed ("may respond"). Managing the team
(inviting, removing, approving join requests, transferring ownership) is the owner's alone.
"""

from __future__ import annotations

from enum import StrEnum

from incubator.domain.i18n import N_

MEMBER_ROLES = ("owner", "editor", "viewer")
REQUEST_STATES = ("pending", "approved", "declined")

ROLE_LABELS: dict[str, str] = {"owner": N_("Owner"), "editor": N_("Editor"), "viewer": N_("Viewer")}


class Permission(StrEnum):
    READ = "read"
    EDIT = "edit"  # save steps, upload, submit
    RESPOND = "respond"  # accept or decline an offer, withdraw
    MANAGE = "manage"  # the team itself


def allows(role: str | None, may_respond: bool, permission: Permission) -> bool:
    """Whether a member with ``role`` (None: not a member) has ``permission``."""
    if role is None:
        return False
    if role == "owner":
        return True
    if permission == Permission.READ:
        return True
    if permission == Permission.EDIT:
        return role == "editor"
    if permission == Permission.RESPOND:
        return may_respond
    return False
