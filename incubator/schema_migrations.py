"""Flask-Migrate, attached the first time something uses it.

Importing Flask-Migrate imports Alembic and, through it, Mako and every SQL dialect's DDL module:
about a fifth of creating the app, paid by every web worker, command and the scheduler. Only
``flask db …`` and the test and benchmark setup (``flask_migrate.upgrade()``) use it. So creating
the app registers a ``db`` command that loads the real command group when it runs, and makes
``app.extensions`` a mapping that initialises Flask-Migrate the first time something asks for
``app.extensions["migrate"]`` (what every Flask-Migrate function and ``migrations/env.py`` do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from flask import Flask

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent.parent / "migrations"
MIGRATE_KEY = "migrate"  # Flask-Migrate's key in app.extensions
COMMAND_NAME = "db"


def defer_migrations(app: Flask) -> None:
    """Offer ``flask db`` and ``app.extensions["migrate"]`` without importing Alembic yet."""
    app.extensions = _ExtensionsWithLazyMigrate(app, app.extensions)
    app.cli.add_command(_LazyMigrateCommand(), COMMAND_NAME)


def init_migrations(app: Flask) -> None:
    """Bind Flask-Migrate to ``app`` now (also replaces the placeholder ``db`` command)."""
    from flask_migrate import Migrate

    from incubator.extensions import db

    Migrate(app, db, directory=str(MIGRATIONS_DIRECTORY), command=COMMAND_NAME, render_as_batch=True,
            compare_type=True)


class _ExtensionsWithLazyMigrate(dict[str, Any]):
    """``app.extensions``, which builds Flask-Migrate's entry when it is first looked up."""

    def __init__(self, app: Flask, existing: dict[str, Any]) -> None:
        super().__init__(existing)
        self._app = app

    def __missing__(self, key: str) -> Any:
        if key != MIGRATE_KEY:
            raise KeyError(key)
        _complete_setup(self._app)
        init_migrations(self._app)
        return dict.__getitem__(self, key)


class _LazyMigrateCommand(click.Command):
    """Stands in for Flask-Migrate's ``db`` group in ``flask --help``; running it runs the real one.

    Click builds a context through the command it looked up, then invokes ``context.command``, so
    handing over in ``make_context`` makes every later step (options, sub-commands, ``--help``,
    shell completion) the real group's."""

    def __init__(self) -> None:
        super().__init__(COMMAND_NAME, help="Perform database migrations.")

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        from flask import current_app
        from flask_migrate.cli import db as real_group

        if current_app:
            _complete_setup(current_app)  # the migrations need the models and the engine
        return real_group.make_context(info_name, args, parent=parent, **extra)


def _complete_setup(app: Flask) -> None:
    complete_setup = getattr(app, "complete_setup", None)  # incubator.deferred_setup
    if complete_setup is not None:
        complete_setup()
