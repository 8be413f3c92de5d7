"""The power-driver contract: what the core needs from a pool of modules.

Modelled on EVerest's ``power_supply_DC`` interface, widened to a pool of
modules shared between guns: the core addresses *modules* and groups them
per gun itself (see :mod:`pecc_core.pool`). A driver owns one bus and
knows its modules by their address there; a station may have several
buses, one driver each (:class:`pecc_core.stage.PowerStage`), so the core
names a module by bus and address (:class:`ModuleId`). A driver opens its
bus in :meth:`PowerDriver.start`, polls the modules,
keeps each :class:`ModuleState` current, detects silence and faults, and
re-applies the cached mode and setpoints when a module comes back.

Everything runs on the station's asyncio loop; a driver never blocks it.

Optional capabilities, which the ops server checks with ``isinstance``:
a driver on a bus it counts the traffic of offers :class:`HasBusStats`
(the CAN drivers: ``pecc_can_*`` metrics), one that hands every frame of
its bus to a tap offers :class:`HasBusTap` (the flight recorder of
docs/incidents.md), and a module simulator service offers
:class:`InjectsModuleFaults` (the control API's ``/api/sim/modules``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple, Protocol, runtime_checkable


class Fault(StrEnum):
    """Typed module faults (EVerest's power_supply_DC error kinds)."""

    COMMUNICATION = "communication"  # module silent, or the bus is down
    HARDWARE = "hardware"
    INPUT = "input"  # AC input out of range or lost: the module stops
    OVER_TEMPERATURE = "over_temperature"
    OVER_VOLTAGE = "over_voltage"
    UNDER_VOLTAGE = "under_voltage"
    OVER_CURRENT = "over_current"
    VENDOR_ERROR = "vendor_error"
    VENDOR_WARNING = "vendor_warning"  # informational: the module keeps working


#: Faults that make a module unusable until they clear.
BLOCKING = frozenset(Fault) - {Fault.VENDOR_WARNING}


class Mode(StrEnum):
    OFF = "off"
    EXPORT = "export"


class ModuleId(NamedTuple):
    """A module's name in the station: its bus (the profile's bus name) and its address there.

    Addresses are unique per bus only. Ordered by bus, then address;
    written ``can1:5`` (logs, the control API, metrics' ``id``).
    """

    bus: str
    address: int

    def __str__(self) -> str:
        return f"{self.bus}:{self.address}"

    @classmethod
    def parse(cls, text: str, buses: Sequence[str]) -> ModuleId:
        """``"can1:5"``, or a bare ``"5"`` on a station of one bus; :class:`ValueError` otherwise."""
        bus, colon, address = text.rpartition(":")
        if not colon:
            if len(buses) != 1:
                raise ValueError(f"expected BUS:ADDRESS (buses: {', '.join(buses)}), got {text!r}")
            bus = buses[0]
        elif bus not in buses:
            raise ValueError(f"no bus {bus!r} (buses: {', '.join(buses)})")
        if not address.isdecimal():
            raise ValueError(f"expected a module address (a number), got {address!r}")
        return cls(bus, int(address))


@dataclass(slots=True)
class ModuleState:
    """The driver's live view of one module; mutated by the driver only.

    ``bus`` is the name of the driver's bus in the profile (each
    :class:`~pecc_core.profile.model.ModuleConfig` a driver is built from
    carries it); ``id`` follows from it and the address.
    """

    address: int
    voltage_min: float
    voltage_max: float
    current_max: float
    power_max: float
    online: bool = False
    faults: set[Fault] = field(default_factory=set)
    voltage: float = 0.0
    current: float = 0.0
    temperature: float = 25.0
    mode: Mode = Mode.OFF
    voltage_setpoint: float = 0.0
    current_setpoint: float = 0.0
    #: loop.time() of the last reading from it: a driver must keep it current,
    #: the core counts readings older than ``safety.reading_stale_ms`` as unknown
    last_seen: float = 0.0
    #: loop.time() of the last voltage reading, for a protocol that reads the
    #: voltage in a frame of its own (UU, Infy): a module heard just now may
    #: still carry a voltage read seconds ago (a poll lost on a busy bus), and
    #: the core must not compare that with the connector's. 0.0: the voltage
    #: comes with every reading (``last_seen`` tells its age).
    voltage_seen: float = 0.0
    bus: str = ""
    id: ModuleId = field(init=False)

    def __post_init__(self) -> None:
        self.id = ModuleId(self.bus, self.address)

    @property
    def usable(self) -> bool:
        """Online and free of blocking faults: may be given power to deliver."""
        return self.online and not (self.faults & BLOCKING)


ModuleListener = Callable[[ModuleState], None]


class PowerDriver(Protocol):
    """A driver for the modules of one bus, by their address there.

    Built by its factory as ``factory(params, modules)``, ``modules`` the
    bus's :class:`~pecc_core.profile.model.ModuleConfig` (each with its
    ``bus``, which the driver copies into the :class:`ModuleState`).

    :attr bus_ok: False while the bus is down (every module then also has
        :attr:`Fault.COMMUNICATION`); the driver keeps trying to reopen it.

    Optional: ``watchdog_s``, the modules' own watchdog time (after this
    silence they switch their output off); a gun whose modules all went
    silent keeps its contactors closed that long unless its current is
    known to be low (``docs/safety.md``). Without it the core assumes 10 s.
    """

    bus_ok: bool

    @property
    def modules(self) -> Mapping[int, ModuleState]:
        """Every configured module by address, updated in place (read-only to the core)."""

    async def start(self) -> None:
        """Open the bus and start polling; returns once polling runs.

        A bus that cannot be opened is not an error here: the driver reports
        it through :attr:`bus_ok` and module faults, and keeps retrying.
        """

    async def stop(self) -> None:
        """Switch every module off, stop polling and close the bus."""

    def export(
        self, addresses: Sequence[int], voltage: float, current: float, voltage_max: float | None = None
    ) -> None:
        """Drive ``voltage`` with the total current limit ``current`` on ``addresses``.

        The current is split over the usable modules among ``addresses``
        (never broadcast), each capped by its own ratings. Frames go out
        before this returns (or are counted as failed sends). ``voltage_max``
        is the most this gun's session may ask for (the EV's maximum voltage
        within the gun's limits): a driver whose modules have voltage ranges
        chooses a module's range from it when the module starts, and never
        switches it while the module exports.
        """

    def off(self, addresses: Sequence[int]) -> None:
        """Command ``addresses`` off now (setpoints 0, output disabled)."""

    async def wait_off(self, addresses: Sequence[int], timeout: float) -> bool:
        """After :meth:`off`: wait until their current is low enough to open relays.

        True when it is; False on timeout. Returns at once for modules whose
        communication is lost — it never hangs.
        """

    def add_listener(self, listener: ModuleListener) -> None:
        """Call ``listener(module)`` when a module's ``online`` or ``faults`` change."""


@dataclass(frozen=True, slots=True)
class BusStats:
    """A snapshot of a bus's counters, for monitors and diagnostics."""

    sent: int
    retried: int
    dropped: int
    superseded: int
    off_escalations: int
    error_episodes: int
    deaths: int
    received: int
    queued: int
    load_percent: float
    open_failures: int  #: opens of the bus that failed (it is retried)


class BusLink(Protocol):
    """A driver's bus as its counters see it."""

    @property
    def name(self) -> str:
        """The bus's name in logs and metrics (``bus`` label)."""

    def stats(self) -> BusStats:
        """Its counters right now (on the station's loop)."""


@runtime_checkable
class HasBusStats(Protocol):
    """A power driver that counts its bus's traffic: ``isinstance(driver, HasBusStats)``."""

    @property
    def link(self) -> BusLink: ...


#: ``tap(received, frame)``: one frame that went over the bus, ``received``
#: False for one this node sent. ``frame`` is the bus's own frame object (a
#: python-can ``can.Message`` for the CAN drivers), handed as it is so that a
#: tap costs no copy: a tap keeps it but never changes it. Called on the
#: station's loop, on the bus's hot path: a tap must not block or format; one
#: that raises is logged and taken off (:class:`pecc_core.taps.Taps`).
BusTap = Callable[[bool, Any], None]


@runtime_checkable
class HasBusTap(Protocol):
    """A power driver that hands every frame of its bus to taps: ``isinstance(driver, HasBusTap)``."""

    def add_bus_tap(self, tap: BusTap) -> None:
        """Call ``tap`` for every frame received or sent from now on."""

    def remove_bus_tap(self, tap: BusTap) -> None:
        """Stop calling ``tap`` (a tap not added is ignored)."""


@runtime_checkable
class InjectsModuleFaults(Protocol):
    """A module simulator's fault injections, by module (a service's capability).

    The control API finds the simulator of a module among the station's
    services with ``isinstance(service, InjectsModuleFaults)`` and
    :meth:`simulates`.
    """

    def simulates(self, module: ModuleId) -> bool:
        """True when ``module`` is one of this simulator's."""

    def silence(self, module: ModuleId, silent: bool = True) -> None:
        """Make a module deaf and mute (``silent``), or let it answer again."""

    def inject(self, module: ModuleId, bit: int, active: bool = True) -> None:
        """Set or clear a raw status bit of the module's protocol."""

    def fault(self, module: ModuleId, fault: Fault, active: bool = True) -> None:
        """Raise or clear ``fault``; :class:`ValueError` if the protocol cannot report it."""

    def clear(self, module: ModuleId) -> None:
        """Undo every injection on the module."""
