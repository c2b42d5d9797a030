"""A Flask application whose request-serving half is built the first time it is needed.

Creating the app happens in every command (``flask --app incubator <anything>``, even ``--help``),
every web worker and the scheduler. The part that serves requests and touches the database (the
models, SQLAlchemy, the blueprints with their forms and services, Babel, CSRF, the request hooks)
is most of that cost, while listing or parsing commands needs none of it. So ``create_app``
checks the configuration and registers the commands at once, and hands the rest to
``DeferredSetupFlask``, which runs it before the first request context and the first application
context, so every request, test, script and built-in command (``flask routes``, ``flask shell``)
starts with the complete app. One exception: the ``flask`` command pushes an app context merely
to look up (or list, for ``--help``) the app's commands; that one does not build it, and the
app's command groups build it when one of their commands runs (``incubator.cli``). ``wsgi.py``
completes it at import, so web workers are whole before they accept a connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import click
from flask import Flask
from flask.cli import FlaskGroup
from flask.ctx import AppContext, RequestContext


class DeferredSetupFlask(Flask):
    """Runs ``setup`` (given by ``defer_setup``) once, before its first app or request context."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred_setup: Callable[[Flask], None] | None = None
        self._setup_lock = threading.RLock()  # re-entrant: the setup may push a context itself
        self._setup_running = False

    def defer_setup(self, setup: Callable[[Flask], None]) -> None:
        self._deferred_setup = setup

    def complete_setup(self) -> None:
        """Build the deferred part now (idempotent; threads arriving meanwhile wait for it)."""
        if self._deferred_setup is None:
            return
        with self._setup_lock:
            setup = self._deferred_setup
            if setup is None or self._setup_running:  # done by another thread, or we are inside it
                return
            self._setup_running = True
            try:
                setup(self)
                self._deferred_setup = None
            finally:
                self._setup_running = False

    def app_context(self) -> AppContext:
        if not _flask_command_is_looking_up_commands():
            self.complete_setup()
        return super().app_context()

    def request_context(self, environ: dict[str, Any]) -> RequestContext:
        self.complete_setup()  # before the context: it builds a URL adapter from the rules
        return super().request_context(environ)


def _flask_command_is_looking_up_commands() -> bool:
    """True while the ``flask`` command line itself (not one of its commands) is being handled.

    ``FlaskGroup.get_command`` pushes an app context before it asks the app for a command, for
    every command ``flask --help`` lists too; a command that then runs has its own click context.
    """
    context = click.get_current_context(silent=True)
    return context is not None and isinstance(context.command, FlaskGroup)
