"""What a gun is connected to: the few collaborators it needs, not the whole station."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

    from pecc_core.gun.machine import Gun
    from pecc_core.gun.table import Event, GunState
    from pecc_core.io import Io
    from pecc_core.pool import ModulePool
    from pecc_core.power import PowerDriver
    from pecc_core.profile.model import SafetyConfig, StationConfig, Timings


class Observers(Protocol):
    """Who is told about transitions and faults (the plugin manager's observer hooks).

    Called right after the safety work and never raises: the plugin
    manager calls each implementation on its own and logs its exception.
    """

    def gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None: ...

    def gun_fault(self, gun: Gun, fault: str, active: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a gun is connected to; the station builds one and every gun shares it.

    :param pool: the module pool (measurements, what the modules can supply).
    :param driver: the power driver (setpoints).
    :param io: contactors, IMD, CP/PP supervision.
    :param observers: told after every transition and fault change.
    :param wake: asks the allocator for a new allocation soon (a demand changed).
    :param timings: the profile's timings (control cycle, cable check, precharge).
    :param station: the station's identity the SECC is told (manufacturer, firmware).
    :param safety: the cable check, supervision and shutdown settings.
    """

    pool: ModulePool
    driver: PowerDriver
    io: Io
    observers: Observers
    wake: Callable[[], None]
    timings: Timings
    station: StationConfig
    safety: SafetyConfig

    @property
    def cycle(self) -> float:
        """The control cycle (s)."""
        return self.timings.control_cycle_ms / 1000
