"""The layout's main navigation, rendered once per role, language and application root.

Every page's layout built the same links for the same kind of visitor: a dozen ``url_for`` and
translated labels, about a tenth of the reviewer's list. What the links are depends only on the
visitor's role (or none: anonymous, or a second factor still due), the page's language and the
root the application is served under, so the rendered fragment is kept per those three. Nothing
personal is in it (the name, the CSRF token and the return address stay in the layout), and the
data behind it (role names, routes, catalogues) changes only with a deploy, which restarts.
"""

from __future__ import annotations

from threading import Lock

from flask import current_app, render_template, request
from flask_babel import get_locale
from markupsafe import Markup

from incubator.domain.roles import Role, role_allows

# Per application (tests build many, with their own settings): (role or None, language,
# application root) -> the rendered links. A handful of entries; the bound only guards against a
# proxy that lets clients choose the root (X-Forwarded-Prefix).
EXTENSION_KEY = "incubator_main_navigation"
MAX_ENTRIES = 64
_lock = Lock()


def main_navigation(role: str | None) -> Markup:
    """The links of the navigation bar's left side for a visitor of ``role`` (None: signed out
    or a second factor still due, who see the open calls only)."""
    key = (role, str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"]), request.script_root)
    rendered: dict[tuple[str | None, str, str], Markup] = current_app.extensions.setdefault(EXTENSION_KEY, {})
    cached = rendered.get(key)
    if cached is not None:
        return cached
    granted = Role(role) if role is not None else None
    fragment = Markup(render_template(
        "_main_navigation.html", role=role,
        reviewer=granted is not None and role_allows(granted, Role.REVIEWER),
        manager=granted is not None and role_allows(granted, Role.MANAGER),
        admin=granted is not None and role_allows(granted, Role.ADMIN),
    ))
    with _lock:
        if len(rendered) >= MAX_ENTRIES:
            rendered.clear()
        rendered[key] = fragment
    return fragment
