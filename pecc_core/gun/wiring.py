"""What a gun is connected to: the few collaborators it needs, not the whole station."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from pecc_core.io import Io
    from pecc_core.pool import ModulePool
    from pecc_core.profile.model import SafetyConfig, StationConfig, Timings
    from pecc_core.stage import PowerStage


@dataclass(frozen=True, slots=True)
class Wiring:
    """What a gun is connected to; the station builds one and every gun shares it.

    :param pool: the module pool (measurements, what the modules can supply).
    :param power: the station's power stage (setpoints).
    :param io: contactors, IMD, CP/PP supervision.
    :param wake: asks the allocator for a new allocation soon (a demand changed).
    :param timings: the profile's timings (control cycle, cable check, precharge).
    :param station: the station's identity the SECC is told (manufacturer, firmware).
    :param safety: the cable check, supervision and shutdown settings.
    """

    pool: ModulePool
    power: PowerStage
    io: Io
    wake: Callable[[], None]
    timings: Timings
    station: StationConfig
    safety: SafetyConfig

    @property
    def cycle(self) -> float:
        """The control cycle (s)."""
        return self.timings.control_cycle_ms / 1000
