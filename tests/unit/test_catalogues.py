"""The nb and sv catalogues are complete for the code as it is, and the compiled .mo files are
what the .po files say (they are committed, so a stale one would ship)."""

from __future__ import annotations

import re
from gettext import GNUTranslations
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "incubator" / "translations"
LANGUAGES = ("nb", "sv")
# The same keywords as I18N_KEYWORDS in the Makefile, on top of Babel's (_, gettext, ngettext, N_).
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "lazy_ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def extracted_msgids() -> set[str | tuple[str, str]]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: set[str | tuple[str, str]] = set()
    for _filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.fixture(scope="module")
def msgids() -> set[str | tuple[str, str]]:
    found = extracted_msgids()
    assert len(found) > 1000, "the extraction found almost nothing: is babel.cfg still right?"
    return found


def catalogue(language: str):
    with (TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_extracted_message_is_translated_and_not_fuzzy(language: str, msgids) -> None:
    po = catalogue(language)
    assert not po.fuzzy, "the header is marked fuzzy, so pybabel compile would skip the whole catalogue"
    assert po.num_plurals == 2
    problems = []
    for msgid in sorted(msgids, key=str):
        message = po.get(msgid if isinstance(msgid, str) else msgid[0])
        if message is None:
            problems.append(f"missing: {msgid!r}")
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(f"{'fuzzy' if message.fuzzy else 'empty'}: {msgid!r}")
    assert not problems, (f"{len(problems)} messages need a {language} translation "
                          f"(run `make i18n-update`, then `make i18n-todo`):\n" + "\n".join(problems))


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_every_placeholder(language: str) -> None:
    wrong = []
    for message in catalogue(language):
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        allowed = set().union(*(PLACEHOLDER.findall(source) for source in sources))
        # A singular form may leave the count out ("one review"); every other value must stay.
        needed = set(PLACEHOLDER.findall(sources[0])) - {"%(num)d", "%(count)s"}
        for target in targets:
            used = set(PLACEHOLDER.findall(target))
            if not used <= allowed or not needed <= used:
                wrong.append((message.id, target))
    assert not wrong


@pytest.mark.parametrize("language", LANGUAGES)
def test_committed_mo_matches_a_fresh_compile_of_its_po(language: str) -> None:
    folder = TRANSLATIONS / language / "LC_MESSAGES"
    fresh = BytesIO()
    write_mo(fresh, catalogue(language))
    fresh.seek(0)
    with (folder / "messages.mo").open("rb") as committed:
        shipped = GNUTranslations(committed)
    expected = GNUTranslations(fresh)
    assert shipped._catalog == expected._catalog, "stale .mo: run `make i18n-compile` and commit the result"
