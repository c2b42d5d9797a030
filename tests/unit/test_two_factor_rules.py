"""Which roles must use a second factor, read from TWO_FACTOR_REQUIRED_ROLES."""

from __future__ import annotations

import pytest

from incubator.domain.roles import Role
from incubator.domain.two_factor import (
    DEFAULT_TWO_FACTOR_ROLES,
    normalise_code,
    parse_required_roles,
    second_factor_required,
)


def test_default_requires_administrators_and_managers_only() -> None:
    required = parse_required_roles(DEFAULT_TWO_FACTOR_ROLES)
    assert required == {Role.ADMIN, Role.MANAGER}
    assert not second_factor_required(Role.REVIEWER, required)
    assert not second_factor_required(Role.APPLICANT, required)


def test_setting_extends_to_reviewers_with_loose_spelling() -> None:
    assert parse_required_roles(" Admin, manager ,reviewer,") == {Role.ADMIN, Role.MANAGER, Role.REVIEWER}


def test_unknown_role_name_stops_startup() -> None:
    with pytest.raises(RuntimeError, match="unknown roles \\['reviewers'\\]"):
        parse_required_roles("admin,reviewers")


def test_codes_are_compared_without_spaces_dashes_or_case() -> None:
    assert normalise_code(" ABCDE-fgh2 3 ") == "abcdefgh23"
