"""WSGI entry point for gunicorn: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

A setting that cannot work ends start-up with its one-line reason, not a traceback (with
``preload_app`` the gunicorn master prints it and exits 1 instead of restarting workers).
"""

from incubator import create_app
from incubator.config import ConfigurationError

try:
    app = create_app()
    app.complete_setup()  # whole before the first connection (create_app leaves the routes for later)
except ConfigurationError as error:
    raise SystemExit(f"Error: {error.format_message()}") from None
