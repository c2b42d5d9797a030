"""Helpers for tests that walk the whole URL map: a small world of real rows, valid path
arguments found generically from the schema, the forms each page offers, and a fingerprint of
every table to prove that a refused request changed nothing."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from incubator.database import utcnow
from incubator.domain.applications import STEP_SLUGS
from incubator.domain.roles import Role
from incubator.extensions import db
from incubator.models import Call, Offer, OutboundEmail, Residency, User
from tests.factories import make_application, make_call
from tests.factories_reviews import make_applicant, make_assignment, make_rubric
from tests.integration.test_residencies_service import make_slot

# Path arguments that are not row ids: a value that names something real, where one exists.
# Anything not listed here (a new route's argument) gets "x", which is still a fair probe.
STRING_ARGUMENT_HINTS: dict[str, str] = {"step": STEP_SLUGS[0], "token": "not-a-valid-token"}


@dataclass
class World:
    """The rows every walk runs against; ``clients`` maps a role (None: logged out) to a client."""

    clients: dict[Role | None, FlaskClient]
    call: Call
    csrf: dict[Role | None, str] = field(default_factory=dict)


def build_world(app: Flask, clients: dict[Role | None, FlaskClient]) -> World:
    """A call with a rubric, an application of the applicant client with an attachment, assigned
    to the reviewer client, a slot with an offer for it, another startup's residency in it (its
    follow-up page has forms), and a failed email in the outbox."""
    applicant = clients[Role.APPLICANT].user  # type: ignore[attr-defined]
    reviewer = clients[Role.REVIEWER].user  # type: ignore[attr-defined]
    call = make_call()
    make_rubric(call)
    application = make_application(applicant, call, state="submitted", complete=True)
    make_assignment(application, reviewer)
    slot = make_slot(call)
    now = utcnow()
    db.session.add(Offer(application=application, slot=slot, state="offered", starts_on=dt.date(2027, 1, 1),
                         ends_on=dt.date(2028, 1, 1), response_deadline=now + dt.timedelta(days=7),
                         offered_at=now))
    resident = make_application(make_applicant(), call, state="accepted", complete=True, decision_released_at=now)
    db.session.add(Residency(application=resident, slot=slot, state="active", starts_on=dt.date(2026, 1, 1),
                             ends_on=dt.date(2028, 1, 1)))
    db.session.add(OutboundEmail(to_address=applicant.email, subject="Hello", body_text="Hello", kind="test",
                                 status="failed", last_error="550 no such user"))
    db.session.commit()
    world = World(clients=clients, call=call)
    for role, client in clients.items():
        world.csrf[role] = csrf_token_of(client)
    return world


def csrf_token_of(client: FlaskClient) -> str:
    """The client's CSRF token (one per session), read from the login or logout form."""
    page = client.get("/login").get_data(as_text=True)
    if 'name="csrf_token"' not in page:  # logged in: /login redirects; any form will do
        page = client.get("/password/change").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token found"
    return match.group(1)


def _table_for_argument(name: str) -> Any:
    """``call_id`` -> the table ``calls``; ``email_id`` -> ``outbound_emails``: by naming convention."""
    if not name.endswith("_id"):
        return None
    singular = name.removesuffix("_id")
    plurals = {singular + "s", singular[:-1] + "ies" if singular.endswith("y") else singular + "s"}
    tables = db.metadata.tables
    for plural in plurals:
        if plural in tables:
            return tables[plural]
    matches = [table for table_name, table in tables.items() if any(table_name.endswith("_" + p) for p in plurals)]
    return matches[0] if len(matches) == 1 else None


def valid_argument(name: str, world: World) -> str:
    """A value for path argument ``name`` that names an existing row, found from the schema."""
    table = _table_for_argument(name)
    if table is not None and "id" in table.c:
        found = db.session.scalar(select(func.min(table.c.id)))
        return str(found or 1)
    if name.endswith("_id"):
        return "1"  # an id of a table not found by name: a well-formed id still reaches the view
    if name in STRING_ARGUMENT_HINTS:
        return STRING_ARGUMENT_HINTS[name]
    for table in db.metadata.tables.values():  # e.g. <slug>: calls.slug
        if name in table.c:
            found = db.session.scalar(select(func.min(table.c[name])))
            if found is not None:
                return str(found)
    return "x"


def build_path(rule_text: str, values: dict[str, str]) -> str:
    """The rule's path with raw ``values`` put in (no converter: hostile values must get through)."""
    def replace(match: re.Match[str]) -> str:
        return quote(values[match.group("name")], safe="")

    return re.sub(r"<(?:[^:<>]+:)?(?P<name>[^<>]+)>", replace, rule_text)


def routes(app: Flask) -> Iterator[tuple[Any, str]]:
    """Every (rule, method) pair of interest: GET and POST, static files left out."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.endswith("static"):
            continue
        for method in ("GET", "POST"):
            if method in (rule.methods or ()):
                yield rule, method


def allowed_roles(app: Flask, endpoint: str) -> set[Role | None]:
    """Who the view lets in: everyone for a public page, else the roles ``role_required`` names."""
    required = getattr(app.view_functions[endpoint], "required_roles", None)
    if required is None:
        return {None, *Role}
    if not required:
        return set(Role)
    return {role for role in Role if any(has_role(role, needed) for needed in required)}


def has_role(role: Role, needed: Role) -> bool:
    from incubator.domain.roles import role_allows

    return role_allows(role, needed)


# ------------------------------------------------------------------------------------- forms


@dataclass
class ParsedForm:
    action: str
    method: str
    fields: dict[str, str]


class _FormParser(HTMLParser):
    """The forms of a page with the values a browser would submit unchanged (first submit button)."""

    def __init__(self, page_path: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_path = page_path
        self.forms: list[ParsedForm] = []
        self._form: ParsedForm | None = None
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._submitted = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            action = urlsplit(attributes.get("action") or self.page_path).path
            self._form = ParsedForm(action, attributes.get("method", "get").upper(), {})
            self.forms.append(self._form)
            self._submitted = False
            return
        name = attributes.get("name")
        if self._form is None or not name:
            return
        kind = attributes.get("type", "text").lower()
        if tag == "input":
            if kind in ("checkbox", "radio") and "checked" not in attributes:
                self._form.fields.setdefault(name, "") if kind == "radio" else None
                return
            if kind == "submit":
                if self._submitted:
                    return
                self._submitted = True
            if kind == "file":
                return
            self._form.fields[name] = attributes.get("value", "")
        elif tag == "button" and kind == "submit" and not self._submitted:
            self._submitted = True
            self._form.fields[name] = attributes.get("value", "")
        elif tag == "select":
            self._select, self._select_value = name, None
        elif tag == "option" and self._select is not None:
            value = attributes.get("value", "")
            if self._select_value is None or "selected" in attributes:
                self._select_value = value
        elif tag == "textarea":
            self._textarea = name
            self._form.fields[name] = ""

    def handle_data(self, data: str) -> None:
        if self._form is not None and self._textarea is not None:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select" and self._form is not None and self._select is not None:
            self._form.fields[self._select] = self._select_value or ""
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def without_csrf(fields: dict[str, str]) -> dict[str, str]:
    """The fields minus every CSRF token (prefixed forms name theirs ``<prefix>-csrf_token``)."""
    return {name: value for name, value in fields.items() if not name.endswith("csrf_token")}


def forms_on(page_path: str, html: str) -> list[ParsedForm]:
    parser = _FormParser(page_path)
    parser.feed(html)
    return parser.forms


def collect_forms(app: Flask, world: World) -> dict[str, ParsedForm]:
    """Every form the GET pages offer, by method and action path, as each allowed role sees it."""
    found: dict[str, ParsedForm] = {}
    for rule, method in routes(app):
        if method != "GET":
            continue
        path = build_path(rule.rule, {name: valid_argument(name, world) for name in rule.arguments})
        for role in allowed_roles(app, rule.endpoint) & set(world.clients):
            response = world.clients[role].get(path)
            if response.status_code == 200 and response.mimetype == "text/html":
                for form in forms_on(path, response.get_data(as_text=True)):
                    found.setdefault(f"{form.method} {form.action}", form)
    return found


# -------------------------------------------------------------------------------- fingerprint


# Columns a request writes as bookkeeping of the request itself, not as the change it asks for:
# a session's "last seen" moves at most once a minute on any request, refused or not.
BOOKKEEPING_COLUMNS = {"user_sessions": {"last_seen_at"}}


def database_fingerprint() -> dict[str, str]:
    """A digest of every row of every table (ordered by primary key), per table."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":  # one round trip instead of one per table
        def row_text(table: Any) -> str:
            ignored = "".join(f" - '{column}'" for column in sorted(BOOKKEEPING_COLUMNS.get(table.name, ())))
            return f"(to_jsonb(t){ignored})::text" if ignored else "t::text"

        parts = [f"""SELECT '{table.name}', md5(coalesce(string_agg(row_text, '|' ORDER BY row_text), ''))
                     FROM (SELECT {row_text(table)} AS row_text FROM "{table.name}" t) rows"""
                 for table in db.metadata.sorted_tables]
        digests = dict(connection.exec_driver_sql(" UNION ALL ".join(parts)).all())
        db.session.rollback()
        return digests
    digests = {}
    for table in db.metadata.sorted_tables:
        ignored = BOOKKEEPING_COLUMNS.get(table.name, set())
        columns = ", ".join(f'"{column.name}"' for column in table.c if column.name not in ignored)
        order = ", ".join(f'"{column.name}"' for column in (table.primary_key.columns or table.c))
        rows = connection.exec_driver_sql(f'SELECT {columns} FROM "{table.name}" ORDER BY {order}').fetchall()
        digests[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    db.session.rollback()  # end the read transaction so the next request sees fresh data
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(name for name in before if before[name] != after.get(name))


# Statements that cannot change a row; anything else counts as a possible write.
READ_ONLY_PREFIXES = ("SELECT", "PRAGMA", "SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "SHOW", "SET ", "COMMIT")


class DatabaseWatch:
    """The database's fingerprint, taken again only when something may have changed it.

    Fingerprinting every table is most of a URL-map walk's time, so an engine listener counts
    the statements other than reads that reach the database; while there were none, no row can
    have changed and the last fingerprint still holds. Use as a context manager around a walk.
    """

    def __init__(self) -> None:
        self.fingerprint: dict[str, str] = {}
        self.writes = 0

    def __enter__(self) -> DatabaseWatch:
        self.fingerprint = database_fingerprint()
        event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(db.engine, "before_cursor_execute", self._count)

    def _count(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(READ_ONLY_PREFIXES):
            self.writes += 1

    def changed_since_last_look(self) -> list[str]:
        """The tables changed since the last call (or the start); [] without a fingerprint
        when nothing but reads happened."""
        if not self.writes:
            return []
        before, self.fingerprint, self.writes = self.fingerprint, database_fingerprint(), 0
        return changed_tables(before, self.fingerprint)


def user_of(client: FlaskClient) -> User:
    return client.user  # type: ignore[attr-defined,no-any-return]

