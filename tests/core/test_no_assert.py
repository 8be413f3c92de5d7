"""No ``assert`` in shipped code: ``python -O`` strips them, and a check that can vanish is no check.

A condition that can fail at run time raises a real exception; one that
only narrows a type for mypy is written so that it needs none. Ruff's S101
says the same in ``make test``; this test reads the source with :mod:`ast`
(nothing is imported) so that the rule holds whatever the linter's
configuration.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = (ROOT / "pecc_core", ROOT / "plugins", ROOT / "profiles")


def asserts(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line`` (relative to ``root``) of every ``assert`` statement in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [f"{path.relative_to(root)}:{node.lineno}" for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def test_the_shipped_source_is_read() -> None:
    files = {p.relative_to(ROOT).as_posix() for folder in SHIPPED for p in folder.rglob("*.py")}
    assert {"pecc_core/gun/machine.py", "plugins/pecc_plugins/pepws/admission.py"} <= files


def test_no_shipped_module_uses_assert() -> None:
    found = [where for folder in SHIPPED for path in sorted(folder.rglob("*.py")) for where in asserts(path)]
    assert found == [], "assert in shipped code (raise a real exception instead):\n" + "\n".join(found)


def test_an_assert_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('"""A module."""\n\n\ndef f(x):\n    if x:\n        assert x > 0, "narrowing"\n    return x\n')
    assert asserts(module, tmp_path) == ["module.py:6"]
