"""Who must use a second factor: pure rules, no database."""

from __future__ import annotations

from collections.abc import Iterable

from incubator.domain.roles import Role

DEFAULT_TWO_FACTOR_ROLES = "admin,manager"


def parse_required_roles(value: str) -> frozenset[Role]:
    """``"admin, manager"`` -> roles; an unknown name is a configuration error, said at startup."""
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    known = {role.value for role in Role}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise RuntimeError(
            f"TWO_FACTOR_REQUIRED_ROLES names unknown roles {unknown}; use some of {sorted(known)}"
        )
    return frozenset(Role(name) for name in names)


def second_factor_required(role: Role, required_roles: Iterable[Role]) -> bool:
    return role in set(required_roles)


def normalise_code(code: str) -> str:
    """People type codes with spaces or dashes, and recovery codes in either case."""
    return "".join(ch for ch in code if ch.isalnum()).lower()
