"""Static files under versioned URLs, kept by browsers for a year.

Every page named its stylesheets and scripts by plain URLs, which browsers revalidate on each
page view: six conditional requests, each a round trip before the page is styled and its scripts
run. ``url_for`` now adds a digest of the file's content (``?v=``), and a response to a URL whose
digest is the file's current one is marked immutable. A deployment that changes a file changes
its digest, so its URL, so no browser keeps the old file; a request with any other (or no)
digest is answered as before, revalidated on every use.
"""

from __future__ import annotations

import hashlib
import os
from threading import Lock
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.security import safe_join

VERSION_ARGUMENT = "v"
ONE_YEAR = 365 * 24 * 3600
# The endpoints that serve files: the app's own static folder and Bootstrap-Flask's.
STATIC_ENDPOINTS = {"static": None, "bootstrap.static": "bootstrap"}

# (folder, filename) -> (mtime_ns, size, digest): a file is read again only when it changed,
# so `make run` with the reloader picks up an edited script at once.
_digests: dict[tuple[str, str], tuple[int, int, str]] = {}
_lock = Lock()


def _folder(endpoint: str) -> str | None:
    blueprint = STATIC_ENDPOINTS[endpoint]
    if blueprint is None:
        return current_app.static_folder
    registered = current_app.blueprints.get(blueprint)
    return registered.static_folder if registered is not None else None


def content_digest(endpoint: str, filename: str) -> str | None:
    """The first 12 hex digits of the file's SHA-256, or None if there is no such file."""
    folder = _folder(endpoint)
    path = safe_join(folder, filename) if folder else None
    if path is None:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return None
    key = (folder, filename)
    known = _digests.get(key)
    if known is not None and known[:2] == (status.st_mtime_ns, status.st_size):
        return known[2]
    with open(path, "rb") as file:
        digest = hashlib.sha256(file.read()).hexdigest()[:12]
    with _lock:
        _digests[key] = (status.st_mtime_ns, status.st_size, digest)
    return digest


def add_content_digest(endpoint: str, values: dict[str, Any]) -> None:
    """``url_for('static', filename=...)`` (and Bootstrap-Flask's) name the file's version."""
    if endpoint in STATIC_ENDPOINTS and VERSION_ARGUMENT not in values and "filename" in values:
        digest = content_digest(endpoint, str(values["filename"]))
        if digest is not None:
            values[VERSION_ARGUMENT] = digest


def cache_versioned_files(response: Response) -> Response:
    """A file asked for by its current digest never changes under that URL: cache it a year."""
    if (request.endpoint in STATIC_ENDPOINTS and response.status_code in (200, 304)
            and request.args.get(VERSION_ARGUMENT)):
        filename = (request.view_args or {}).get("filename", "")
        if request.args[VERSION_ARGUMENT] == content_digest(request.endpoint, filename):
            response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response


def register_static_versions(app: Flask) -> None:
    app.url_defaults(add_content_digest)
    app.after_request(cache_versioned_files)
