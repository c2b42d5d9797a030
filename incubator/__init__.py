"""The incubator residency matching service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from incubator.config import FIXED_SETTINGS, ConfigurationError, settings_from_environment
from incubator.deferred_setup import DeferredSetupFlask
from incubator.domain.two_factor import parse_required_roles
from incubator.links import configure_public_links
from incubator.schema_migrations import defer_migrations
from incubator.storage import init_storage

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application; ``config`` overrides settings (tests pass their own).

    Settings are checked here, so a setting that cannot work stops start-up; the part that
    serves requests is built before the first app or request context (``deferred_setup``)."""
    app = DeferredSetupFlask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    instance_path = Path((config or {}).get("INSTANCE_PATH", app.instance_path))
    app.config.update(FIXED_SETTINGS)
    app.config.update(settings_from_environment(instance_path))
    app.config.update(config or {})
    if isinstance(app.config["TWO_FACTOR_REQUIRED_ROLES"], str):  # tests and CLI may pass text
        app.config["TWO_FACTOR_REQUIRED_ROLES"] = parse_required_roles(app.config["TWO_FACTOR_REQUIRED_ROLES"])
    configure_public_links(app)
    if app.config.get("BEHIND_PROXY"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    from incubator.logs import configure_logging

    configure_logging(app.config["LOG_FORMAT"])
    _check_rate_limit_storage(app)
    init_storage(app)

    from incubator.cli import register_commands

    register_commands(app)
    defer_migrations(app)  # `flask db`; Flask-Migrate (Alembic) loads only when a migration runs
    app.defer_setup(_serve_requests)
    return app


def _serve_requests(app: Flask) -> None:
    """Everything requests and commands need beyond the settings: extensions, models, routes."""
    _init_extensions(app)
    from incubator.web.inputs import install_input_guards

    install_input_guards(app)  # before the blueprints: their rules use its id converter
    _register_blueprints(app)
    _register_error_handlers(app)
    _register_template_helpers(app)
    _check_rate_limits_only_where_set(app)
    _start_outbox_delivery(app)


def _check_rate_limits_only_where_set(app: Flask) -> None:
    """Flask-Limiter checks every request in a ``before_request`` hook, for limits that cover
    every route (default, application, meta and blueprint limits). This app sets none: its
    limits are decorators on the sign-in routes, and a decorated view checks its own limits when
    it runs. So the hook found nothing to count on every page yet cost a /healthz a sixth of its
    time; it is taken out, unless such a limit is configured (after the blueprints, which could
    carry one)."""
    from incubator.extensions import limiter

    if limiter not in app.extensions.get("limiter", ()):  # RATELIMIT_ENABLED=False: no hook
        return
    manager = limiter.limit_manager
    if manager.default_limits or manager.application_limits or limiter._meta_limits or manager._blueprint_limits:
        return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


def _check_rate_limit_storage(app: Flask) -> None:
    """A shared limiter store that is down would silently stop counting failed logins: refuse."""
    uri = app.config["RATELIMIT_STORAGE_URI"]
    if uri.startswith("memory://"):
        return
    # A probe of its own: the limiter itself is bound later, with the rest of the extensions.
    from limits.storage import storage_from_string

    try:
        reachable = storage_from_string(uri, **app.config.get("RATELIMIT_STORAGE_OPTIONS", {})).check()
    except Exception:  # the client's own errors vary by store; any of them means "not usable"
        reachable = False
    if not reachable:
        raise ConfigurationError(f"RATELIMIT_STORAGE_URI: cannot reach {_without_password(uri)}")


def _without_password(uri: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    if parts.password:
        return uri.replace(f":{parts.password}@", ":***@", 1)
    return uri


SQLITE_BUSY_TIMEOUT_SECONDS = 30


def _init_extensions(app: Flask) -> None:
    from flask_babel import lazy_gettext

    import incubator.models  # noqa: F401  # registers every table before migrations look
    from incubator.extensions import babel, bootstrap, csrf, db, limiter, login_manager, select_locale

    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("sqlite"):
        # A writer waits for SQLite's one write lock (slots are locked that way, services.slots);
        # the driver's 5 s default gave "database is locked" to the last of twenty simultaneous
        # accepts on a busy machine. Waiting longer is the right answer for the embedded database.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    db.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    bootstrap.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please log in to see that page.")
    login_manager.login_message_category = "info"

    from incubator.web.hooks import register_request_hooks

    register_request_hooks(app)

    @login_manager.user_loader
    def load_user(user_id: str) -> Any:
        from incubator.web.auth.signin import load_signed_in_user

        return load_signed_in_user(user_id)


def _register_blueprints(app: Flask) -> None:
    from incubator.web import admin, apply, auth, main, manage, notifications, ops, review

    for module in (main, auth, apply, admin, manage, review, notifications, ops):
        app.register_blueprint(module.bp)


ERROR_TITLES = {
    400: "The request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    413: "The upload is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
    503: "Temporarily unavailable",
}


def _register_error_handlers(app: Flask) -> None:
    from flask import Response, render_template, request
    from flask_babel import gettext as _
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException, SecurityError

    from incubator.extensions import db
    from incubator.storage import StorageUnavailable

    def render_error(code: int, message: str | None = None) -> tuple[str, int]:
        return render_template(
            "errors/error.html", code=code, title=_(ERROR_TITLES.get(code, "Error")), message=message
        ), code

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Any:
        return render_error(
            400,
            _("Your form expired or did not come from this site. Go back, reload the page and try again; what you typed is not saved yet."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Any:
        if error.code is None or error.code < 400:
            return error
        if request.path.startswith("/static/"):
            return error
        if isinstance(error, SecurityError):
            # A Host outside TRUSTED_HOSTS: no URL adapter exists, so the page layout (which
            # builds links) cannot render; a short plain answer says why.
            return Response(_("This service does not answer for that host name."), 400, mimetype="text/plain")
        message = getattr(error, "user_message", None)
        if error.code == 429:
            message = _("Too many attempts in a short time. Wait a minute and try again.")
        elif error.code == 413:
            message = _("The file is larger than this service accepts.")
        return render_error(error.code, message)

    @app.errorhandler(StorageUnavailable)
    def storage_unavailable(error: StorageUnavailable) -> Any:
        app.logger.error("File store unavailable on %s %s: %s", request.method, request.path, error)
        db.session.rollback()
        return render_error(503, _("Uploaded files cannot be stored or read just now. Nothing you saved is lost; "
                                   "try again in a minute."))

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return http_error(error)
        app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return render_error(500)


def _register_template_helpers(app: Flask) -> None:
    from incubator.web.template_gettext import install_template_gettext
    from incubator.web.templating import register_filters

    register_filters(app)
    install_template_gettext(app)


def _start_outbox_delivery(app: Flask) -> None:
    if app.config["OUTBOX_DELIVERY"] == "thread":
        from incubator.mail import BackgroundDeliverer

        app.extensions["outbox_deliverer"] = BackgroundDeliverer(app)
