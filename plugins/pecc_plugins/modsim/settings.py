"""The ``modsim`` service's validated params: read by the simulator and by its responders."""

from __future__ import annotations

from dataclasses import dataclass, field

from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.modsim.physics import PhysicsConfig


@dataclass(frozen=True, slots=True)
class SimSettings:
    """The validated ``params`` of the ``modsim`` service."""

    #: Where the simulated bus is; None: every bus of the profile, where its driver's params say.
    bus: BusConfig | None
    #: The profile's bus whose modules these are (None: the profile's only bus).
    bus_name: str | None = None
    protocol: str = "uugreen"
    group: int = 0
    tick_s: float = 0.05
    #: The modules' own watchdog (None: the protocol's, 5 s for uugreen, 10 s for infy).
    watchdog_s: float | None = None
    #: UU ranges: the top of the low range, and the high range's share of the rated current
    low_range_max_v: float = 500.0
    high_range_current_share: float = 0.5
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
