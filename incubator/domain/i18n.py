"""Marking words for translation in the pure domain, which must not import Flask-Babel.

``N_`` returns its argument unchanged; pybabel extracts every ``N_("...")`` (the keyword is in
the Makefile), and the page or email that shows the word translates it with ``_()``.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext marker name
    return message
