"""List the msgids a translator still has to do: missing, empty or fuzzy, per language.

    python scripts/i18n_todo.py            # every language under translations/
    python scripts/i18n_todo.py nb         # one language

Exits 1 when anything is left, so `make i18n-check` can gate a merge.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "incubator" / "translations"


def untranslated(language: str) -> list[str]:
    template = read_po((TRANSLATIONS / "messages.pot").open("rb"))
    catalogue = read_po((TRANSLATIONS / language / "LC_MESSAGES" / "messages.po").open("rb"))
    left = []
    if catalogue.fuzzy:  # pybabel compile skips a catalogue whose header is fuzzy
        left.append("(the catalogue header is marked fuzzy: remove '#, fuzzy' above msgid \"\")")
    for message in template:
        if not message.id:
            continue
        found = catalogue.get(message.id, message.context)
        strings = found.string if found is not None else None
        texts = strings if isinstance(strings, tuple) else (strings,)
        if found is None or found.fuzzy or not all(texts):
            left.append(message.id[0] if isinstance(message.id, tuple) else message.id)
    return left


def main(argv: list[str]) -> int:
    languages = argv or sorted(p.name for p in TRANSLATIONS.iterdir() if p.is_dir())
    total = 0
    for language in languages:
        left = untranslated(language)
        total += len(left)
        print(f"== {language}: {len(left)} untranslated")
        for msgid in left:
            print(f"  {msgid!r}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
