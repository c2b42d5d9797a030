"""Who may open a page: every private view is wrapped in ``role_required``."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user

from incubator.domain.roles import Role
from incubator.extensions import login_manager

View = TypeVar("View", bound=Callable[..., Any])


def role_required(*roles: Role) -> Callable[[View], View]:
    """Logged-out visitors are sent to log in; signed-in users without the role get 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if roles and not any(current_user.has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]  # read by the access tests
        return wrapped  # type: ignore[return-value]

    return decorator


def login_required(view: View) -> View:
    """Any signed-in user, whatever the role."""
    return role_required()(view)
