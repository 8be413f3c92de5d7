"""What the plugins offer, by category: the registries ``pecc_register_*`` hooks fill.

Kept apart from the plugin manager (:mod:`pecc_core.plugins`), which fills
them, so that whatever reads a registry (the station's view of the
manager, the profile loader) needs nothing of the manager itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marshmallow import Schema


@dataclass(frozen=True, slots=True)
class Registration:
    """One named thing a plugin offers."""

    category: str
    name: str
    factory: Callable[..., Any]
    params: type[Schema] | None
    summary: str
    plugin: str


@dataclass(slots=True)
class Registry:
    """The named things of one category, e.g. every power driver."""

    category: str
    entries: dict[str, Registration] = field(default_factory=dict)
    #: The manager's :attr:`~pecc_core.plugins.PluginManager.load_errors`: what a name may be missing for.
    load_errors: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> Registration:
        """The registration called ``name``; KeyError lists the known names."""
        try:
            return self.entries[name]
        except KeyError:
            raise KeyError(self.unknown(name)) from None

    def unknown(self, name: str) -> str:
        """Why ``name`` is not here: what is, and every plugin that did not load (a missing extra: which)."""
        known = ", ".join(sorted(self.entries)) or "none installed"
        message = f"unknown {self.category.replace('_', ' ')} {name!r} (installed: {known})"
        for plugin, error in sorted(self.load_errors.items()):
            message += f"; plugin {plugin!r} not loaded: {error}"
        return message

    def __contains__(self, name: object) -> bool:
        return name in self.entries


