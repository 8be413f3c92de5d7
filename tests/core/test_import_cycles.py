"""No file imports itself through others: the import graph of the core and the plugins has no cycle.

Every import counts, wherever it stands: at the top, under ``if
TYPE_CHECKING:`` (mypy follows those, and a cycle there is the same
tangle) and inside functions (it runs at the first call). The graph is read
from the source with :mod:`ast`, so nothing is imported to check it.

``from pkg import name`` imports the submodule ``pkg.name`` when there is
one, as Python does; the package ``pkg`` is loaded first as the parent of
any of its submodules, which is not counted (as ``asyncio``'s modules do,
siblings import each other by ``from pkg import sibling`` without making
the package part of a cycle). A name defined in the package's ``__init__``
and imported from it does count as importing the ``__init__``.

The cycles not yet broken would be listed in :data:`ALLOWED`; the list must
be exact, so that it shrinks as they are broken and a new cycle fails.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (ROOT / "pecc_core", ROOT / "plugins" / "pecc_plugins")

#: Cycles not yet broken: none is left, and none may come back.
ALLOWED: frozenset[frozenset[str]] = frozenset()

Graph = Mapping[str, Mapping[str, int]]


def modules(packages: Iterable[Path]) -> dict[str, Path]:
    """Every module of ``packages`` by dotted name (a package by its own name, not ``__init__``)."""
    found = {}
    for package in packages:
        for path in package.rglob("*.py"):
            parts = path.relative_to(package.parent).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: Mapping[str, Path]) -> dict[str, int]:
    """The modules of ``known`` that module ``name`` imports anywhere, each with the line of its first import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            source = ".".join(part for part in (base, node.module) if part)
            targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in known else source for a in node.names]
        else:
            continue
        for target in targets:
            if target in known:
                found[target] = min(found.get(target, node.lineno), node.lineno)
    return found


def graph_of(packages: Iterable[Path]) -> dict[str, dict[str, int]]:
    known = modules(packages)
    return {name: imports(name, path, known) for name, path in known.items()}


def cycles(graph: Graph) -> set[frozenset[str]]:
    """The strongly connected components with a cycle in them (Tarjan): modules that import themselves via others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

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
            component = {stack.pop()}
            while module not in component:
                component.add(stack.pop())
            if len(component) > 1 or module in graph[module]:
                found.add(frozenset(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def describe(component: frozenset[str], graph: Graph) -> str:
    """The imports inside a cycle, one per line, with the importing line."""
    return "\n".join(
        f"  {module}:{line} imports {target}"
        for module in sorted(component)
        for target, line in sorted(graph[module].items())
        if target in component
    )


def test_no_import_cycle_but_the_allowed_ones() -> None:
    graph = graph_of(PACKAGES)
    new = [c for c in cycles(graph) if not any(c <= allowed for allowed in ALLOWED)]
    assert new == [], "import cycles:\n" + "\n\n".join(describe(c, graph) for c in new)


def test_the_allowed_cycles_are_exactly_the_ones_left() -> None:
    """A cycle broken (or shrunk) must leave the allow-list too, so that it cannot come back unseen."""
    found = cycles(graph_of(PACKAGES))
    assert sorted(sorted(c) for c in ALLOWED - found) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_type_checking_and_function_imports_make_cycles(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "pkg/b.py": "from pkg.a import A\n",
        "pkg/c.py": "def later():\n    from pkg.d import D\n",
        "pkg/d.py": "from . import c\n",
    })
    assert cycles(graph_of([pkg])) == {frozenset({"pkg.a", "pkg.b"}), frozenset({"pkg.c", "pkg.d"})}


def test_a_sibling_from_the_package_is_no_cycle(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "from pkg.driver import Driver\n",
        "pkg/wire.py": "",
        "pkg/driver.py": "from pkg import wire\n",
        "pkg/sub/__init__.py": "from .. import wire\n",
    })
    graph = graph_of([pkg])
    assert graph["pkg.driver"] == {"pkg.wire": 1}
    assert graph["pkg.sub"] == {"pkg.wire": 1}
    assert cycles(graph) == set()


def test_a_name_from_the_package_init_is_a_cycle(tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "NAME = 'x'\nfrom pkg.codec import decode\n",
        "pkg/codec.py": "def decode():\n    from pkg import NAME\n",
    })
    assert cycles(graph_of([pkg])) == {frozenset({"pkg", "pkg.codec"})}
