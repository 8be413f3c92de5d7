"""The CAN SDK's two texts name only what exists: docs/can-drivers.md and the docstring of ``pecc_plugins.canbus``.

A vendor writes a driver from them; a hook renamed in the code and not in
the texts (``_poll_all``, once) sends them looking for what is not there.
Every code name the texts give is extracted and looked up:

- reST roles of the docstring (``:meth:`~ModuleDriver.poll```): in the package;
- in both texts, a literal that names a ``ModuleDriver`` attribute
  (``poll(module, readings)``, ``self.send``): the hooks and helpers; one
  that starts with ``_`` is an internal, which the texts must not give a
  vendor;
- a literal whose first part is a name the SDK knows (``Priority.OFF``,
  ``CanLink.stats()``, ``ModuleState``, ``UuDriver``, ``can.Bus``) or a module of PECC
  (``pecc_core.sharing.fair_shares``, ``modsim.service.PROTOCOLS``): the
  whole dotted name; a capitalized name the SDK does not know is an error;
- the doc's tables of hooks and helpers: every method, on ``ModuleDriver``;
  and the other way round, every public method of ``ModuleDriver`` beyond
  the ``PowerDriver`` contract is in both texts;
- its Python examples: what they import from the package, and the methods
  and ``self.`` attributes of a ``ModuleDriver`` subclass.

Lowercase names that are not the SDK's (profile params, status fields,
objects of an example) are not code references this test can resolve.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import importlib.util
import inspect
import re
import textwrap
from pathlib import Path
from types import ModuleType

import can

import pecc_plugins.canbus as sdk
from pecc_core import power
from pecc_plugins.canbus import ModuleDriver
from pecc_plugins.infy import driver as infy_driver
from pecc_plugins.uugreen import driver as uu_driver

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "can-drivers.md").read_text()
DOCSTRING = sdk.__doc__ or ""

ROLE = re.compile(r":(?:meth|func|class|data|mod|attr|exc):`~?([^`]+)`")
RST_LITERAL = re.compile(r"``([^`]+)``")
MD_LITERAL = re.compile(r"(?<!`)`([^`]+)`(?!`)")  # inline code may run over a line break
# fences and tables may be indented under a list item
FENCE = re.compile(r"^ *```python\n(.*?)^ *```", re.MULTILINE | re.DOTALL)
ANY_FENCE = re.compile(r"^ *```.*?^ *```", re.MULTILINE | re.DOTALL)
# `self.send(frame)`, `CanLink.stats()`, `Priority.OFF`, `InfyDriver.refusals[key]`: a dotted name
DOTTED = re.compile(r"(?:self\.)?([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\)|\[.*\])?", re.DOTALL)


def _known() -> dict[str, object]:
    """Every name the texts may use: the SDK's modules' (with what they import), the power contract's,
    python-can's, the builtin drivers' and Python's."""
    names: dict[str, object] = dict(vars(builtins))
    for module in (can, power, uu_driver, infy_driver, *_submodules(sdk)):
        names.update(vars(module))
    return names


def _submodules(package: ModuleType) -> list[ModuleType]:
    """The package and each of its modules, imported."""
    found = [package]
    for path in Path(package.__file__ or "").parent.glob("*.py"):
        if path.stem != "__init__":
            found.append(importlib.import_module(f"{package.__name__}.{path.stem}"))
    return found


KNOWN = _known()


def _module(head: str) -> ModuleType | None:
    """The PECC module ``head`` names (``pecc_core``, ``pecc_plugins``, or a plugin: ``modsim``), if any."""
    for name in (head, f"pecc_plugins.{head}"):
        if name.partition(".")[0] in ("pecc_core", "pecc_plugins") and importlib.util.find_spec(name):
            return importlib.import_module(name)
    return None


def _resolves(start: object, parts: list[str]) -> bool:
    """Whether ``start.parts[0].parts[1]...`` exists, importing submodules on the way.

    An instance attribute (annotated in a class, or set as ``self.name`` in
    its code) ends the walk: there is no object to look further into.
    """
    thing = start
    for part in parts:
        if isinstance(thing, ModuleType) and not hasattr(thing, part):
            if importlib.util.find_spec(f"{thing.__name__}.{part}") is None:
                return False
            importlib.import_module(f"{thing.__name__}.{part}")
        if hasattr(thing, part):
            thing = getattr(thing, part)
        else:
            return isinstance(thing, type) and _instance_attribute(thing, part)
    return True


def _instance_attribute(cls: type, name: str) -> bool:
    """Whether instances of ``cls`` have ``name``: annotated in a class of its MRO, or assigned to ``self.name``."""
    for klass in cls.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            return True
        with contextlib.suppress(OSError, TypeError):  # a builtin class has no source
            if re.search(rf"\bself\.{name}\s*(?::|=(?!=))", inspect.getsource(klass)):
                return True
    return False


def problem(literal: str) -> str | None:
    """Why the code name in ``literal`` does not exist; None if it does or is not one checked here."""
    match = DOTTED.fullmatch(literal.strip())
    if match is None:
        return None
    head, *rest = match.group(1).split(".")
    if head.startswith("_") and not head.startswith("__"):
        return f"{literal}: an internal of ModuleDriver, not for vendor code"
    if hasattr(ModuleDriver, head):
        return None if _resolves(ModuleDriver, [head, *rest]) else f"{literal}: no ModuleDriver.{match.group(1)}"
    if head in KNOWN:
        return None if _resolves(KNOWN[head], rest) else f"{literal}: {head} has no {'.'.join(rest)}"
    module = _module(head) if head.islower() else None
    if module is not None:
        return None if _resolves(module, rest) else f"{literal}: {module.__name__} has no {'.'.join(rest)}"
    if head[0].isupper() and "_" not in head and not head.isupper():  # a class name, not a CONSTANT
        return f"{literal}: no {head} in the SDK, the power contract, python-can or the builtin drivers"
    return None


def _problems(literals: list[str]) -> list[str]:
    return [p for p in map(problem, literals) if p is not None]


def test_the_docstring_roles_name_what_the_package_has() -> None:
    targets = ROLE.findall(DOCSTRING)
    assert "ModuleDriver.decode" in targets and ".timedbus" in targets
    # `.timedbus`: a module of the package; `pecc_core.power.BusStats`: a name of the core, in full
    assert [t for t in targets if not _resolves(*_root(t))] == []


def _root(target: str) -> tuple[object, list[str]]:
    """Where a role's name starts: a top-level package it names in full, else the SDK's package."""
    parts = target.lstrip(".").split(".")
    if parts[0] in ("pecc_core", "pecc_plugins"):
        return importlib.import_module(parts[0]), parts[1:]
    return sdk, parts


def test_the_docstring_literals_name_what_exists() -> None:
    literals = RST_LITERAL.findall(DOCSTRING)
    assert "wait_off" in literals
    assert _problems(literals) == []


def test_the_doc_literals_name_what_exists() -> None:
    literals = MD_LITERAL.findall(ANY_FENCE.sub("", DOC))
    assert {"Priority.OFF", "poll(module, readings)", "CanLink.stats()"} <= set(literals)
    assert _problems(literals) == []


def _table(header: str) -> list[str]:
    """The methods the doc's table under ``header`` lists, one a row."""
    lines = [line.strip() for line in DOC.splitlines()]
    start = lines.index(header) + 2
    rows = lines[start : lines.index("", start)]
    methods = re.findall(r"^\| `(\w+)\(", "\n".join(rows), re.MULTILINE)
    assert len(methods) == len(rows)
    return methods


HOOKS = _table("| method | required | what it does |")
HELPERS = _table("| method | what it does |")


def test_every_hook_and_helper_of_the_doc_tables_is_a_moduledriver_method() -> None:
    assert "decode" in HOOKS and "frame_decoder" in HOOKS and "send" in HELPERS
    assert [m for m in HOOKS + HELPERS if not callable(getattr(ModuleDriver, m, None))] == []
    assert sorted(set(HOOKS) & set(HELPERS)) == []


def _vendor_api() -> set[str]:
    """ModuleDriver's public methods beyond the core's contract and capabilities: what a vendor implements or calls.

    The contract (``PowerDriver``) and the capabilities it offers the core
    (``HasBusStats``, ``HasBusTap``) are the core's, documented there.
    """
    contract = {
        name
        for protocol in (power.PowerDriver, power.HasBusStats, power.HasBusTap)
        for name in dir(protocol)
        if not name.startswith("_")
    }
    return {
        name
        for name in dir(ModuleDriver)
        if not name.startswith("_") and name not in contract and callable(getattr(ModuleDriver, name))
    }


def test_both_texts_name_every_hook_and_helper() -> None:
    api = _vendor_api()
    assert {"decode", "poll", "apply", "send", "heard", "send_state"} <= api
    assert sorted(api - set(HOOKS) - set(HELPERS)) == []
    roles = {t.rpartition(".")[2] for t in ROLE.findall(DOCSTRING) if "ModuleDriver." in t}
    assert sorted(api - roles) == []


def test_the_doc_example_driver_overrides_and_calls_only_what_moduledriver_has() -> None:
    drivers = [
        node
        for example in FENCE.findall(DOC)
        for node in ast.walk(ast.parse(textwrap.dedent(example)))
        if isinstance(node, ast.ClassDef) and any(getattr(base, "id", "") == "ModuleDriver" for base in node.bases)
    ]
    assert [d.name for d in drivers] == ["AcmeDriver"]
    (driver,) = drivers
    own = {node.name for node in driver.body if isinstance(node, ast.FunctionDef)}
    used = {
        node.attr
        for node in ast.walk(driver)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
    }
    assert "heard" in used
    assert sorted(m for m in own - {"__init__"} if not hasattr(ModuleDriver, m)) == []
    assert sorted(a for a in used - own if not hasattr(ModuleDriver, a)) == []


def test_the_doc_imports_from_the_package_only_what_it_exports() -> None:
    # the examples' imports, and the one in the prose: `from pecc_plugins.canbus import ModuleDriver, DriverParams, ...`
    imported = re.findall(r"from pecc_plugins\.canbus import ([\w, .]+)", DOC)
    names = {name.strip() for line in imported for name in line.split(",")} - {"..."}
    assert "ModuleDriver" in names
    assert sorted(names - set(sdk.__all__)) == []
