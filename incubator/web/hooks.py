"""Request-wide behaviour: one transaction per request, security headers, secure cookies."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask.sessions import SecureCookieSessionInterface

from incubator.extensions import db
from incubator.services.notifications import OUTBOX_DIRTY
from incubator.services.scope import load_request_scope
from incubator.web.observability import log_request, start_request_clock
from incubator.web.static_assets import register_static_versions

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class HttpsAwareSessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request itself came over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:  # type: ignore[override]
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def commit_request_transaction(response: Response) -> Response:
    """The one commit of a request; errors roll back when the session is removed."""
    if response.status_code >= 400:
        db.session.rollback()
        return response
    db.session.commit()
    if db.session.info.pop(OUTBOX_DIRTY, False):
        deliverer = current_app.extensions.get("outbox_deliverer")
        if deliverer is not None:
            deliverer.kick()
    return response


def add_security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def register_request_hooks(app: Flask) -> None:
    app.session_interface = HttpsAwareSessionInterface()
    app.before_request(start_request_clock)
    app.before_request(load_request_scope)  # before any view's query
    app.after_request(log_request)  # registered first, so it runs last: after the commit
    app.after_request(commit_request_transaction)
    app.after_request(add_security_headers)
    register_static_versions(app)
