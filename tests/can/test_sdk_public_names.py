"""Vendor drivers reach ``ModuleDriver`` through its public names only.

Its hooks and helpers are public; its underscored names are internals that
may change under a vendor's feet. The drivers written against the SDK, the
builtin ones and the example vendor package, are held to that: every
attribute a ``ModuleDriver`` subclass reaches through ``self.`` or
``super().`` that is ``ModuleDriver``'s (a method, or an attribute its
``__init__`` sets) must be public. The subclass's own names may be anything.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from pecc_plugins.canbus import ModuleDriver, moduledriver

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "plugins" / "examples" / "pecc-example-driver" / "pecc_example_driver"
SOURCES = {
    "example": EXAMPLE / "__init__.py",
    "uugreen": ROOT / "plugins" / "pecc_plugins" / "uugreen" / "driver.py",
    "infy": ROOT / "plugins" / "pecc_plugins" / "infy" / "driver.py",
}


def _base_names() -> set[str]:
    """What ``ModuleDriver`` has: its class attributes and what its methods assign to ``self``."""
    names = set(dir(ModuleDriver))
    for node in ast.walk(ast.parse(inspect.getsource(moduledriver))):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _on_self(node):
            names.add(node.attr)
    return names


def _on_self(node: ast.Attribute) -> bool:
    """``self.x`` or ``super().x``."""
    value = node.value
    if isinstance(value, ast.Name):
        return value.id == "self"
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"


def _drivers(tree: ast.Module) -> list[ast.ClassDef]:
    """The classes of a module that derive from ``ModuleDriver``, directly or through one of the module's own."""
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    derived = {"ModuleDriver"}
    grew = True
    while grew:
        found = {c.name for c in classes if any(getattr(b, "id", None) in derived for b in c.bases)}
        grew = not found <= derived
        derived |= found
    return [c for c in classes if c.name in derived]


def _private_base_names_used(tree: ast.Module) -> list[str]:
    base = _base_names()
    return sorted(
        {
            node.attr
            for driver in _drivers(tree)
            for node in ast.walk(driver)
            if isinstance(node, ast.Attribute)
            and _on_self(node)
            and node.attr in base
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        }
    )


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_driver_uses_only_public_moduledriver_names(name: str) -> None:
    assert _private_base_names_used(ast.parse(SOURCES[name].read_text())) == []


def test_the_builtin_drivers_are_moduledriver_subclasses() -> None:
    # the check above looks at ModuleDriver subclasses: it must find the builtin drivers
    for name in ("uugreen", "infy"):
        assert len(_drivers(ast.parse(SOURCES[name].read_text()))) == 1


def test_the_check_finds_internals_reached_through_self_or_super() -> None:
    source = """
class Base(ModuleDriver):
    pass

class Vendor(Base):
    def decode(self, msg):
        self._own = 1                       # its own: any name
        module = self._heard_before(msg)    # its own too: not ModuleDriver's
        self._sending_as                    # an internal of ModuleDriver
        super()._send_state(module, None)   # another
        self._waiters.clear()               # an attribute its __init__ sets
        self.send(msg)                      # public
"""
    assert _private_base_names_used(ast.parse(source)) == ["_send_state", "_sending_as", "_waiters"]
