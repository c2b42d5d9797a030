"""Werkzeug's URL builders compiled once per rule shape for the whole test session.

Every test creates its own app, and werkzeug compiles two Python functions (through ``ast`` and
``compile``) for each of the app's ~150 URL rules when they are added: some 80 ms per app, a
fifth of the suite's time. The compiled function depends only on the rule's parts and
whether unknown arguments are appended (a rule with a default folded into its code is left
alone), and reaches the rule's converters through ``self`` when called; so a rule of the same
shape in the next app can reuse it. The rules, their matching and every URL built are
werkzeug's own; only the repeated compilation is skipped. Production creates one app per process and does not load this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule

_compiled: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}
_original = Rule._compile_builder


def _shape(rule: Rule, append_unknown: bool) -> tuple[Any, ...] | None:
    """What the compiled builder depends on; None when a default is folded into the code
    (werkzeug converts such a default at compile time), which is then compiled as usual."""
    defaults = rule.defaults or {}
    if any(is_dynamic and name in defaults for is_dynamic, name in rule._trace):
        return None
    return (tuple(rule._trace), append_unknown)


def _compile_builder_once(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    key = _shape(self, append_unknown)
    if key is None:
        return _original(self, append_unknown)
    builder = _compiled.get(key)
    if builder is None:
        builder = _compiled[key] = _original(self, append_unknown)
    return builder


Rule._compile_builder = _compile_builder_once  # type: ignore[method-assign]
