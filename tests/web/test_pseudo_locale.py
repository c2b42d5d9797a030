"""Every GET page of every role, rendered under a pseudo-locale whose catalogue wraps each
translation in ⟦…⟧, shows no visible text that bypassed the catalogue.

The pseudo catalogue is built at test time from the msgids of the nb catalogue (which
tests/unit/test_catalogues.py keeps complete). Visible text left once the ⟦…⟧ parts are removed
must be data: words stored in the database (names, titles, answers), numbers, dates, or an
allow-listed proper noun. Anything else is a string someone forgot to wrap.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, String, Text, select

from incubator.domain.roles import Role
from incubator.extensions import db
from tests.web.walk import allowed_roles, build_path, build_world, routes, valid_argument

PSEUDO = "eo"  # a real Babel locale nobody here uses, so dates and plurals still work
CATALOGUES = Path(__file__).resolve().parents[2] / "incubator" / "translations"
WORD = re.compile(r"[^\W\d_]{2,}")
MARKED = re.compile(r"⟦[^⟦⟧]*⟧")
# Names of things, units and codes that are the same in every language.
PROPER_NOUNS = {
    "OCC", "Incubator", "Oslo", "Cancer", "Cluster", "AstraZeneca", "BioVentureHub", "Gothenburg", "Göteborg",
    "English", "Norsk", "bokmål", "Svenska", "UTC", "CET", "CEST", "EST", "PDF", "CSV", "ICS", "MB", "EUR", "AI",
    "Europe", "Stockholm", "JSON", "TOTP", "ID", "NO", "SE", "https", "http", "localhost", "example", "org",
    "Markdown", "HTML",
}
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}


class TextNodes(HTMLParser):
    """Visible text: data outside script/style, and the attributes a reader or screen reader gets."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.texts.extend(value for name, value in attrs if name in VISIBLE_ATTRIBUTES and value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.append(data)


def write_pseudo_catalogue(folder: Path) -> None:
    with (CATALOGUES / "nb" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        source = read_po(po)
    pseudo = Catalog(locale=PSEUDO, fuzzy=False)
    for message in source:
        if message.id:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            forms = tuple(f"⟦{text}⟧" for text in ids)
            pseudo.add(message.id, forms if isinstance(message.id, tuple) else forms[0])
    target = folder / PSEUDO / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as mo:
        write_mo(mo, pseudo)


def data_words() -> set[str]:
    """Every word stored in a text column of the walk's world: what pages may show untranslated."""
    words: set[str] = set()
    for table in db.metadata.sorted_tables:
        columns = [column for column in table.c if isinstance(column.type, (String, Text, JSON))]
        if columns:
            for row in db.session.execute(select(*columns)):
                for value in row:
                    words.update(WORD.findall(value if isinstance(value, str) else repr(value)))
    return words


def locale_words() -> set[str]:
    """Month, day and country names of the pseudo-locale: Babel's CLDR data names them, not the
    catalogue (dates, country lists)."""
    locale = Locale.parse(PSEUDO)
    words: set[str] = set(WORD.findall(" ".join(locale.territories.values())))
    for table in (locale.months, locale.days):
        for width in table.values():
            for names in width.values():
                words.update(WORD.findall(" ".join(names.values())))
    return words


# Machine text shown as it is stored: audit action keys, JSON details, secrets and codes.
IDENTIFIER = re.compile(r"^\s*([\w.]+\.[\w.]+|\{.*\})\s*$")
CODE = re.compile(r"^[A-Z0-9]+$")
DOTTED = re.compile(r"\b\w+(?:\.\w+)+\b")


def unmarked(text: str, allowed: set[str]) -> list[str]:
    if IDENTIFIER.match(text):
        return []
    rest = DOTTED.sub(" ", MARKED.sub(" ", text))
    while MARKED.search(rest):
        rest = MARKED.sub(" ", rest)
    words = WORD.findall(rest.replace("⟦", " ").replace("⟧", " "))
    return [word for word in words if word not in allowed and not CODE.match(word)]


@pytest.fixture
def everyone(app: Flask, client: FlaskClient, applicant_client: FlaskClient, reviewer_client: FlaskClient,
             manager_client: FlaskClient, admin_client: FlaskClient) -> dict[Role | None, FlaskClient]:
    return {None: client, Role.APPLICANT: applicant_client, Role.REVIEWER: reviewer_client,
            Role.MANAGER: manager_client, Role.ADMIN: admin_client}


def test_every_page_of_every_role_shows_only_catalogue_text_and_data(
        app: Flask, everyone: dict[Role | None, FlaskClient], tmp_path: Path) -> None:
    write_pseudo_catalogue(tmp_path)
    babel = app.extensions["babel"]
    babel.translation_directories = [str(tmp_path), *babel.translation_directories]
    babel.locale_selector = lambda: PSEUDO
    world = build_world(app, everyone)
    allowed = data_words() | locale_words() | PROPER_NOUNS
    pages = 0
    leaks: list[str] = []
    for rule, method in routes(app):
        if method != "GET":
            continue
        path = build_path(rule.rule, {name: valid_argument(name, world) for name in rule.arguments})
        for role in sorted(allowed_roles(app, rule.endpoint), key=str):
            response = everyone[role].get(path)
            response.close()  # streamed downloads end their context here
            if response.status_code != 200 or response.mimetype != "text/html":
                continue
            pages += 1
            parser = TextNodes()
            parser.feed(response.get_data(as_text=True))
            for text in parser.texts:
                words = unmarked(text, allowed)
                if words:
                    leaks.append(f"{path} as {role}: {text.strip()[:80]!r} ({', '.join(words[:5])})")
    assert pages > 40, f"only {pages} pages rendered; the walk lost its way"
    assert not leaks, f"{len(leaks)} visible texts did not come through the catalogue:\n" + "\n".join(
        sorted(set(leaks))[:400])
