"""Roles and what each may do: pure data shared by models, services and templates."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    APPLICANT = "applicant"
    REVIEWER = "reviewer"
    MANAGER = "manager"
    ADMIN = "admin"


# Administrators run the service, so they can open every management page too; reviewing
# stays with reviewers so that nobody scores an application by accident of privilege.
ROLE_GRANTS: dict[Role, frozenset[Role]] = {
    Role.APPLICANT: frozenset({Role.APPLICANT}),
    Role.REVIEWER: frozenset({Role.REVIEWER}),
    Role.MANAGER: frozenset({Role.MANAGER}),
    Role.ADMIN: frozenset({Role.ADMIN, Role.MANAGER}),
}

# Roles an administrator may invite by email; applicants register themselves.
INVITABLE_ROLES: tuple[Role, ...] = (Role.REVIEWER, Role.MANAGER, Role.ADMIN)


def role_allows(role: Role, needed: Role) -> bool:
    return needed in ROLE_GRANTS[role]
