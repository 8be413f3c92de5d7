"""Simulated voltage sensor at the connector: it reads the gun's output node.

The node is what a simulator of the power stage computes (the module
simulator attaches itself with :meth:`SimConnectorVoltage.follow` when it
starts): it includes the car's battery while the contactors are closed and
the modules are off, which a module's own measurement behind its output
diode does not see. :meth:`drift` makes a gun's sensor read off (a
failing sensor: the plausibility check against the modules must see it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pecc_core.profile.model import Profile


class SimConnectorVoltage:
    """Unknown (None) until a source is attached, or for a gun no source knows.

    Each bus's module simulator attaches itself; a gun's connector reads the
    highest of their nodes (the modules' outputs are behind diodes: the
    node is at the highest of them, the car's battery included).
    """

    def __init__(self) -> None:
        self._sources: list[Callable[[str], float | None]] = []
        self._drift: dict[str, float] = {}

    @classmethod
    def from_profile(cls, params: dict[str, Any], profile: Profile) -> SimConnectorVoltage:
        return cls()

    def follow(self, source: Callable[[str], float | None]) -> None:
        """Read the connector voltage of a gun as ``source(gun)`` too (the highest of the sources' readings)."""
        self._sources.append(source)

    def voltage(self, gun: str) -> float | None:
        volts = max((v for source in self._sources if (v := source(gun)) is not None), default=None)
        return None if volts is None else volts + self._drift.get(gun, 0.0)

    def drift(self, gun: str, volts: float | None) -> None:
        """Make ``gun``'s sensor read ``volts`` off the node (None: true again)."""
        if volts is None:
            self._drift.pop(gun, None)
        else:
            self._drift[gun] = volts

    def current(self, gun: str) -> float | None:
        return None
