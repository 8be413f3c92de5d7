"""The gun's state machine and the profile model stay light: no dynaconf, no marshmallow.

Checked in a fresh interpreter, since this test process has loaded both already.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("dynaconf", "marshmallow")


def loaded_after(module: str) -> list[str]:
    code = (
        f"import json, sys, importlib; importlib.import_module({module!r}); "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(json.loads(result.stdout))


@pytest.mark.parametrize("module", ["pecc_core.gun", "pecc_core.gun.machine", "pecc_core.profile.model"])
def test_module_imports_without_dynaconf_or_marshmallow(module: str) -> None:
    assert loaded_after(module) == []


def test_the_profile_loader_still_loads_on_use() -> None:
    assert "dynaconf" in loaded_after("pecc_core.profile.loader")
