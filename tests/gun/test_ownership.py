"""Each part of a gun alone writes the state it owns.

A gun's state used to be public attributes that any module could set; the
parts it is being split into each own theirs and offer methods and
read-only views instead. :data:`OWNED` lists, for each owning module, the
attribute names only that module may write: assign, augment, delete,
assign an item of, or change through a mutating method (``pop``, ``add``
…). The source of :mod:`pecc_core` is read with :mod:`ast`, so nothing is
imported to check it. The table grows as more state moves into a part.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pecc_core"

#: Owning module -> the attribute names only it writes.
OWNED: Mapping[str, frozenset[str]] = {
    # the allocator and the stop path tell the gun through its methods
    "pecc_core.gun.machine": frozenset({"starved", "_starved", "closing", "_closing"}),
    # the fault monitor keeps the faults, notices and latching; the gun reads views
    "pecc_core.gun.faults": frozenset({"faults", "_faults", "notices", "_notices"}),
    # the output keeps the setpoint, the up-ramp and whether the power cap binds
    "pecc_core.gun.output": frozenset({"setpoint", "_setpoint", "power_bound", "_power_bound", "_ramp"}),
    # the contactors part keeps what was last commanded and whether a command is in progress
    "pecc_core.gun.contactors": frozenset({"commanded_closed", "_commanded_closed", "switching", "_switching"}),
    # the last check keeps its record and the IMD sample it ended on, set as the check begins and ends
    "pecc_core.gun.last_check": frozenset({"record", "_record", "isolation_seq", "_isolation_seq"}),
    # the running cable check alone fills in its figures
    "pecc_core.gun.cable_check": frozenset({
        "reached", "self_test", "samples", "first_sample", "resistance", "verdict", "passed",
    }),
    # the gun's work starts the safe-down and hears of its end: it keeps the gun's modules meanwhile
    "pecc_core.gun.work": frozenset({"holds_modules", "_holds_modules"}),
}

#: Methods that change a container in place.
MUTATORS = frozenset({
    "add", "append", "clear", "discard", "extend", "insert", "pop", "popitem", "remove", "setdefault", "update",
})


def _written(target: ast.expr) -> Iterator[ast.Attribute]:
    """The attributes an assignment target writes (``x.a``, ``x.a[k]``, ``x.a, y.b``)."""
    if isinstance(target, ast.Attribute):
        yield target
    elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Attribute):
        yield target.value
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _written(element)
    elif isinstance(target, ast.Starred):
        yield from _written(target.value)


def writes(source: str) -> Iterator[tuple[str, int]]:
    """Every attribute name the source writes, with its line."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
            and isinstance(node.func.value, ast.Attribute)
        ):
            yield node.func.value.attr, node.lineno
            continue
        else:
            continue
        for target in targets:
            for attribute in _written(target):
                yield attribute.attr, attribute.lineno


def modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts): path
        for path in PACKAGE.rglob("*.py")
    }


def violations(sources: Mapping[str, str], owned: Mapping[str, frozenset[str]]) -> list[str]:
    """``module:line writes name (owned by owner)`` for every write outside the owner."""
    owner_of = {name: owner for owner, names in owned.items() for name in names}
    return [
        f"{module}:{line} writes {name} (owned by {owner_of[name]})"
        for module, source in sorted(sources.items())
        for name, line in writes(source)
        if name in owner_of and owner_of[name] != module
    ]


def test_only_the_owner_writes_its_state() -> None:
    sources = {name: path.read_text() for name, path in modules().items()}
    assert violations(sources, OWNED) == []


def test_every_owner_writes_what_it_owns() -> None:
    """The table names real state: each owner writes each private name it lists."""
    found = modules()
    for owner, names in OWNED.items():
        written = {name for name, _ in writes(found[owner].read_text())}
        assert {n for n in names if n.startswith("_")} <= written, owner


def test_every_kind_of_write_is_seen() -> None:
    source = "\n".join([
        "gun.a = 1",
        "gun.b += 1",
        "gun.c: int = 1",
        "del gun.d",
        "gun.e['k'] = 1",
        "gun.f, (x, gun.g) = 1, (2, 3)",
        "gun.h.pop('k')",
        "gun.i.get('k')",
        "gun.j == 1",
    ])
    assert sorted(name for name, _ in writes(source)) == ["a", "b", "c", "d", "e", "f", "g", "h"]


def test_a_write_outside_the_owner_is_reported() -> None:
    owned = {"pkg.owner": frozenset({"x"})}
    sources = {"pkg.owner": "self.x = 1", "pkg.other": "\n\ngun.x = 2"}
    assert violations(sources, owned) == ["pkg.other:3 writes x (owned by pkg.owner)"]
