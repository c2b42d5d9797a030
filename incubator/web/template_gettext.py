"""``_()`` and ``ngettext()`` in templates, with the request's catalogue looked up once.

Flask-Babel's template callables call ``get_translations()`` for every string: that looks the
request's Babel state up through ``flask.g`` about nine times and formats the locale's name again,
which was a quarter of the reviewer's list (some 80 strings per page). These keep the catalogue
Flask-Babel found next to the locale object it found it for, in Flask-Babel's own request state,
and reuse it while the request's locale is that same object. ``force_locale`` (emails rendered in
the recipient's language) and ``refresh()`` replace the locale object, so they get the full lookup
and the right catalogue, and the original one again afterwards.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, g
from flask_babel import get_translations
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

# Flask-Babel 4 keeps a request's locale in g._flask_babel.babel_locale (force_locale swaps it).
BABEL_STATE = "_flask_babel"
CACHE_ATTRIBUTE = "incubator_catalogue"


def _catalogue() -> Any:
    state = g.get(BABEL_STATE) if g else None
    locale = getattr(state, "babel_locale", None)
    cached = getattr(state, CACHE_ATTRIBUTE, None)
    if locale is not None and cached is not None and cached[0] is locale:
        return cached[1]
    translations = get_translations()  # the full lookup; it also settles the request's locale
    state = g.get(BABEL_STATE) if g else None
    if state is not None and getattr(state, "babel_locale", None) is not None:
        setattr(state, CACHE_ATTRIBUTE, (state.babel_locale, translations))
    return translations


def _gettext(message: str) -> str:
    return _catalogue().ugettext(message)


def _ngettext(singular: str, plural: str, count: int) -> str:
    return _catalogue().ungettext(singular, plural, count)


@pass_eval_context
def _newstyle_gettext(eval_context: EvalContext, __string: str, **variables: Any) -> str:
    # What Jinja's newstyle gettext does (escape-aware, always a format string), in one call.
    text = _catalogue().ugettext(__string)
    if eval_context.autoescape:
        text = Markup(text)
    return text % variables  # type: ignore[no-any-return]


@pass_eval_context
def _newstyle_ngettext(eval_context: EvalContext, __singular: str, __plural: str, __num: int,
                       **variables: Any) -> str:
    variables.setdefault("num", __num)
    text = _catalogue().ungettext(__singular, __plural, __num)
    if eval_context.autoescape:
        text = Markup(text)
    return text % variables  # type: ignore[no-any-return]


def install_template_gettext(app: Flask) -> None:
    """Replace Flask-Babel's ``_``/``gettext``/``ngettext`` in templates (after ``babel.init_app``).

    Jinja's own newstyle callables reach the catalogue through three nested ``Context.call``s
    per string (``_`` resolves ``gettext``, which wraps the function); a page has dozens of
    strings, so ``_`` and ``gettext`` are one function here, doing the same."""
    app.jinja_env.install_gettext_callables(gettext=_gettext, ngettext=_ngettext, newstyle=True)
    app.jinja_env.globals.update(_=_newstyle_gettext, gettext=_newstyle_gettext, ngettext=_newstyle_ngettext)
