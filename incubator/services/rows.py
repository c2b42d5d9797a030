"""Race-safe creation of one-per-key rows (settings, profiles, policies).

"Read, and insert when missing" loses a race: two first saves at once both read nothing, both
insert, and the second hits the primary key (IntegrityError, a 500). Here the insert is
``INSERT ... ON CONFLICT DO NOTHING``: the loser waits for the winner's row and reads it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite

from incubator.extensions import db

Model = TypeVar("Model")


def dialect_insert(model: Any) -> Any:
    """An INSERT for the session's backend that knows ``on_conflict_do_nothing``."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return insert(model)


def get_or_create(model: type[Model], **key: Any) -> Model:
    """The row of ``model`` whose primary key is ``key``, inserted with its defaults if missing."""
    row = db.session.get(model, key)
    if row is None:
        db.session.execute(dialect_insert(model).values(**key).on_conflict_do_nothing(index_elements=list(key)))
        row = db.session.get(model, key)
    assert row is not None  # inserted now, or by whoever won the race
    return row
