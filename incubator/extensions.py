"""Extensions, created once here and bound to an application in create_app()."""

from __future__ import annotations

from flask import request
from flask_babel import Babel
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from incubator.database import Base

db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
bootstrap = Bootstrap5()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


# Remembers a visitor's choice from the language switcher; signed-in people keep it in users.locale.
LOCALE_COOKIE = "locale"
# Browsers in Norway often send the macro language "no" (or nynorsk "nn"); bokmål is closest.
LOCALE_ALIASES = {"no": "nb", "nn": "nb"}


def select_locale() -> str | None:
    """The profile's choice, then the visitor's cookie, then Accept-Language, then the default.

    Emails rendered outside a request pick the recipient's language with ``force_locale``."""
    from flask import current_app, has_request_context
    from flask_login import current_user

    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    if not has_request_context():
        return default
    supported = current_app.config["SUPPORTED_LOCALES"]
    chosen = getattr(current_user, "locale", None) if current_user.is_authenticated else None
    for choice in (chosen, request.cookies.get(LOCALE_COOKIE)):
        if choice in supported:
            return choice
    for language, _quality in request.accept_languages:  # best first
        primary = language.replace("_", "-").split("-")[0].lower()
        candidate = LOCALE_ALIASES.get(primary, primary)
        if candidate in supported:
            return candidate
    return default
