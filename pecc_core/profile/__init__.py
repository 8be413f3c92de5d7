"""Profiles: one TOML file per deployment, validated into typed objects.

The typed objects (:mod:`.model`) import on their own; the loader (and
with it dynaconf and marshmallow) loads only when a name from it is used,
so the gun's state machine and the profile model stay light to import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pecc_core.profile.model import GunConfig, ModuleConfig, PluginChoice, Profile

if TYPE_CHECKING:
    from pecc_core.profile.loader import ProfileError, available, load

_FROM_LOADER = frozenset({"ProfileError", "available", "load"})


def __getattr__(name: str) -> Any:
    if name in _FROM_LOADER:
        return getattr(importlib.import_module("pecc_core.profile.loader"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["GunConfig", "ModuleConfig", "PluginChoice", "Profile", "ProfileError", "available", "load"]
