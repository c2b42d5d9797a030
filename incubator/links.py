"""Absolute links that leave the service, built from one configured address.

A link in an email, a calendar feed or a ``List-Unsubscribe`` header must never take its host
from the request: a client chooses the ``Host`` header, so ``url_for(..., _external=True)`` in a
request would let anyone who can make us send an email to someone else (a password reset, say)
point its link at their own site. Every absolute URL is therefore built from
``PUBLIC_BASE_URL``, the same in a web request, a command and the scheduler process.

``trusted_hosts`` derives Flask's ``TRUSTED_HOSTS`` from the same setting, so requests naming
any other host are refused with 400 before a view runs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app

from incubator.config import ConfigurationError

DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"


class PublicBaseUrlError(ConfigurationError):
    """The configured public address is missing (in production) or not an http(s) URL."""


def normalise_base_url(value: str) -> str:
    """``https://host[:port][/prefix]`` without a trailing slash; anything else is refused."""
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise PublicBaseUrlError(f"PUBLIC_BASE_URL must be an http(s) URL with a host name, got {value!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise PublicBaseUrlError(f"PUBLIC_BASE_URL must not carry a query, fragment or login: {value!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def resolve_public_base_url(config: dict[str, Any]) -> str:
    """The base URL for this configuration; refuses a production start-up without one.

    Outside production an unset value falls back to ``SERVER_NAME`` (tests use ``localhost``),
    then to the address ``make run`` serves on.
    """
    configured = config.get("PUBLIC_BASE_URL")
    if configured:
        return normalise_base_url(str(configured))
    if config.get("PRODUCTION"):
        raise PublicBaseUrlError(
            "PUBLIC_BASE_URL is required in production (INCUBATOR_ENV=production or SECRET_KEY set in "
            "the environment): set it to the address people use, e.g. https://incubator.example.org"
        )
    if config.get("SERVER_NAME"):
        return normalise_base_url(f"{config.get('PREFERRED_URL_SCHEME') or 'http'}://{config['SERVER_NAME']}")
    return DEVELOPMENT_BASE_URL


def trusted_hosts(config: dict[str, Any]) -> list[str]:
    """Host names requests may name: the public one, SERVER_NAME's and the extra ones configured."""
    hosts = [urlsplit(config["PUBLIC_BASE_URL"]).hostname or ""]
    if config.get("SERVER_NAME"):
        hosts.append(urlsplit(f"//{config['SERVER_NAME']}").hostname or "")
    hosts += [host.strip().lower() for host in config.get("EXTRA_TRUSTED_HOSTS") or [] if host.strip()]
    return sorted({host for host in hosts if host})


def configure_public_links(app: Flask) -> None:
    """Fix the public address at start-up and refuse requests for any other host."""
    app.config["PUBLIC_BASE_URL"] = resolve_public_base_url(app.config)
    if app.config.get("TRUSTED_HOSTS") is None:
        app.config["TRUSTED_HOSTS"] = trusted_hosts(app.config)


def public_base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"])


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` under PUBLIC_BASE_URL, whatever host the request named."""
    app = current_app
    base = urlsplit(public_base_url())
    adapter = app.url_map.bind(base.netloc, script_name=base.path or "/", url_scheme=base.scheme)
    app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)
