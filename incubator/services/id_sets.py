"""A set of ids as one bound parameter, for the rows of a page or a chunk of an export.

``column IN (:id_1, :id_2, ...)`` binds one parameter per id, which grows the statement with
the list and fails past the driver's limit; these bind the whole list once: an array on
PostgreSQL (``= ANY(:ids)``), a JSON array read by ``json_each`` on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Integer, any_, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY

from incubator.extensions import db


def among(column: Any, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``, with the ids bound as a single parameter."""
    dialect = db.session.get_bind().dialect.name
    return _among(column, bindparam(None, ids_parameter(ids, dialect), type_=_ids_type(dialect)), dialect)


def among_bound(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """``among`` with the ids left to bind at execution as the parameter ``name`` (give it
    ``ids_parameter(ids, dialect)``): for a statement built once and run for every page."""
    return _among(column, bindparam(name, type_=_ids_type(dialect)), dialect)


def ids_parameter(ids: Iterable[int], dialect: str) -> Any:
    """The value of an ``among_bound`` parameter: the list itself, or the JSON text on SQLite."""
    values = [int(value) for value in ids]
    return values if dialect == "postgresql" else json.dumps(values)


def _ids_type(dialect: str) -> Any:
    return ARRAY(Integer) if dialect == "postgresql" else None


def _among(column: Any, ids: Any, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return column == any_(ids)
    listed = func.json_each(ids).table_valued("value")
    return column.in_(select(listed.c.value))
