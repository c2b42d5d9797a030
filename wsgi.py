"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from incubator import create_app

app = create_app()
