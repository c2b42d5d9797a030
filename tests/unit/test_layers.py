"""The layers of DESIGN.md hold, and no two of our modules import each other.

Pure ``domain`` <- ``models`` <- ``services`` <- ``web`` and ``cli``: a module never imports
from a layer above its own, wherever the import sits (a deferred import inside a function is
still a dependency). Imports under ``if TYPE_CHECKING:`` are for annotations only and never
run, so they are left out. A blueprint package and its own route modules import each other by
Flask's design (the package creates ``bp``, the modules register views on it and the package
imports them), which is the one circle allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "incubator"
LAYERS = {"domain": 0, "models": 1, "services": 2, "web": 3, "cli": 3}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except what sits under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(module, path, node)
            for alias in node.names:
                target = f"{source}.{alias.name}"
                found.add(target if target in MODULES else source)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


GRAPH = {module: imports_of(module) for module in MODULES}


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_the_walk_sees_the_whole_package() -> None:
    assert {"incubator.domain.scoring", "incubator.services.ranking", "incubator.web.manage.routes",
            "incubator.cli"} <= set(MODULES)
    assert "incubator.domain.scoring" in GRAPH["incubator.services.ranking"]


@pytest.mark.parametrize("module", sorted(name for name in MODULES if layer(name) is not None))
def test_no_module_imports_from_a_layer_above_its_own(module: str) -> None:
    own = layer(module)
    above = sorted(target for target in GRAPH[module] if (layer(target) or -1) > own)
    assert above == [], f"{module} imports {above}"


def _is_blueprint_pair(a: str, b: str) -> bool:
    """A package and a module directly inside it: the blueprint pattern."""
    return b.rpartition(".")[0] == a or a.rpartition(".")[0] == b


def _cycles() -> list[list[str]]:
    """Strongly connected groups of two or more modules (Tarjan), with the blueprint pairs'
    edges left out."""
    graph = {module: {target for target in targets if not _is_blueprint_pair(module, target)}
             for module, targets in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return groups


def test_no_two_modules_import_each_other() -> None:
    assert _cycles() == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    saved = {name: set(GRAPH[name]) for name in ("incubator.domain.scoring", "incubator.domain.matching")}
    GRAPH["incubator.domain.scoring"].add("incubator.domain.matching")
    GRAPH["incubator.domain.matching"].add("incubator.domain.scoring")
    try:
        assert ["incubator.domain.matching", "incubator.domain.scoring"] in _cycles()
    finally:
        GRAPH.update(saved)
