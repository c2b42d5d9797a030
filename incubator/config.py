"""Settings from environment variables, with safe embedded defaults.

Every setting can be given as an environment variable of the same name. Without any, the
service runs on an SQLite file and a generated secret key, both under ``instance/``, and writes
outgoing email to the log instead of sending it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from pathlib import Path
from typing import Any

import click

from incubator.domain.two_factor import DEFAULT_TWO_FACTOR_ROLES, parse_required_roles

DEFAULT_TIMEZONE = "Europe/Oslo"


class ConfigurationError(click.ClickException):
    """A setting that cannot work; start-up stops with this one line instead of a traceback.

    A ``ClickException`` so every ``flask`` command prints it as ``Error: …`` and exits 1;
    ``wsgi.py`` turns it into the same single line for gunicorn.
    """


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigurationError(f"environment variable {name} must be an integer, got {value!r}") from exc


def _idle_timeout() -> dt.timedelta:
    minutes = _env_int("SESSION_IDLE_MINUTES", 12 * 60)
    if minutes < 5:
        raise ConfigurationError(f"environment variable SESSION_IDLE_MINUTES must be at least 5, got {minutes}")
    return dt.timedelta(minutes=minutes)


def load_or_create_secret_key(instance_path: Path) -> str:
    """Keep a generated key under instance/ so sessions survive a restart."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written with owner-only permissions: the key signs sessions and reset links.
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def is_production_environment() -> bool:
    """Production is declared (INCUBATOR_ENV=production) or implied by a SECRET_KEY given in the
    environment: every real deployment sets one (several hosts must share it), while
    development lets the key be generated under instance/. Either way the environment, not a
    default, says so, and production start-up then insists on the settings it cannot guess."""
    declared = os.environ.get("INCUBATOR_ENV", "").strip().lower() == "production"
    return declared or bool(os.environ.get("SECRET_KEY"))


def settings_from_environment(instance_path: Path) -> dict[str, Any]:
    """The application's configuration as read from the environment."""
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'incubator.sqlite3'}"
    # Heroku-style URLs name the driver "postgres"; SQLAlchemy wants psycopg 3 named explicitly.
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or load_or_create_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SESSION_COOKIE_SECURE": _env_bool("SESSION_COOKIE_SECURE", False),
        "PREFERRED_URL_SCHEME": os.environ.get("PREFERRED_URL_SCHEME", "http"),
        "SERVER_NAME": os.environ.get("SERVER_NAME") or None,
        "PRODUCTION": is_production_environment(),
        # Every absolute link leaving the service is built from this (incubator/links.py).
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL") or None,
        "EXTRA_TRUSTED_HOSTS": _env_list("EXTRA_TRUSTED_HOSTS"),
        "BEHIND_PROXY": _env_bool("BEHIND_PROXY", False),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": _env_int("MAIL_PORT", 25),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _env_bool("MAIL_USE_SSL", False),
        "MAIL_DEFAULT_SENDER": os.environ.get(
            "MAIL_DEFAULT_SENDER", "OCC Incubator <incubator@localhost>"
        ),
        "MAIL_TIMEOUT": _env_int("MAIL_TIMEOUT", 10),
        "OUTBOX_DELIVERY": os.environ.get("OUTBOX_DELIVERY", "thread"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Off when a proxy limits requests; failed logins are still slowed (web/auth/throttle.py).
        "RATELIMIT_ENABLED": _env_bool("RATELIMIT_ENABLED", True),
        "TWO_FACTOR_REQUIRED_ROLES": parse_required_roles(
            os.environ.get("TWO_FACTOR_REQUIRED_ROLES", DEFAULT_TWO_FACTOR_ROLES)
        ),
        "TWO_FACTOR_FAILURES_PER_MINUTE": _env_int("TWO_FACTOR_FAILURES_PER_MINUTE", 5),
        "TWO_FACTOR_ISSUER": os.environ.get("TWO_FACTOR_ISSUER", "OCC Incubator"),
        # A signed-in session unused this long ends (services/sessions.py ended_by_idleness).
        "SESSION_IDLE_TIMEOUT": _idle_timeout(),
        "LOGIN_FREE_FAILURES": _env_int("LOGIN_FREE_FAILURES", 5),
        "LOGIN_MAX_DELAY_SECONDS": _env_int("LOGIN_MAX_DELAY_SECONDS", 15 * 60),
        "PASSWORD_RESET_MAX_AGE": _env_int("PASSWORD_RESET_MAX_AGE", 60 * 60),
        "INVITATION_MAX_AGE": _env_int("INVITATION_MAX_AGE", 7 * 24 * 60 * 60),
        "DEFAULT_TIMEZONE": os.environ.get("DEFAULT_TIMEZONE", DEFAULT_TIMEZONE),
        # Rejected and withdrawn applications are anonymised this long after (services/retention.py).
        "RETENTION_YEARS": _env_int("RETENTION_YEARS", 3),
        "UPLOAD_FOLDER": os.environ.get("UPLOAD_FOLDER") or str(instance_path / "uploads"),
        # Empty: the local folder above. ``s3://bucket/prefix``: an S3-compatible object store,
        # reached at S3_ENDPOINT_URL (empty: AWS) with these credentials (empty: boto3's own
        # lookup, e.g. an instance role or AWS_ACCESS_KEY_ID).
        "STORAGE_URL": os.environ.get("STORAGE_URL", ""),
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", ""),
        "S3_REGION": os.environ.get("S3_REGION", ""),
        "S3_ACCESS_KEY_ID": os.environ.get("S3_ACCESS_KEY_ID", ""),
        "S3_SECRET_ACCESS_KEY": os.environ.get("S3_SECRET_ACCESS_KEY", ""),
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        # Rendered pages kept per web process for their exact inputs (incubator/web/page_memo.py);
        # 0 keeps none.
        "PAGE_MEMO_BYTES": _env_int("PAGE_MEMO_MB", 32) * 1024 * 1024,
        # Bearer token for /metrics; empty means /metrics does not exist (404).
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # /readyz fails when the scheduler leader has not renewed its lease for this long, or
        # when an email has waited for delivery longer than OUTBOX_MAX_DELAY.
        "SCHEDULER_STALE_AFTER": _env_int("SCHEDULER_STALE_AFTER", 30),
        "OUTBOX_MAX_DELAY": _env_int("OUTBOX_MAX_DELAY", 15 * 60),
        "MAX_UPLOAD_BYTES": _env_int("MAX_UPLOAD_MB", 20) * 1024 * 1024,
        # The request limit sits a little above the file limit, so an oversized file gets our
        # clear message from the form rather than a bare 413 from the server.
        "MAX_CONTENT_LENGTH": _env_int("MAX_UPLOAD_MB", 20) * 1024 * 1024 + 1024 * 1024,
    }


FIXED_SETTINGS: dict[str, Any] = {
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,  # a form left open over lunch must still submit
    "BOOTSTRAP_SERVE_LOCAL": True,  # the service must work offline: no CDN
    "BABEL_DEFAULT_LOCALE": "en",
    "BABEL_DEFAULT_TIMEZONE": "UTC",
    "SUPPORTED_LOCALES": ["en", "nb", "sv"],
    "RATELIMIT_HEADERS_ENABLED": True,
}
