"""The module simulator service: simulated modules on their own CAN buses.

:class:`ModSim` simulates the modules of one bus of the profile: it opens
its *own* python-can bus on the driver's channel (a ``virtual`` bus does
not deliver a sender's frames to itself, so driver and simulator need one
each) and answers the frames of one vendor protocol through a responder
(:mod:`.uu`, :mod:`.infy`). The physics (:mod:`.physics`) is the
:class:`~.world.SimWorld`'s, which every bus of a station shares (a gun
may draw on modules of several buses). :class:`StationSim` is the
``modsim`` service without bus params: a :class:`ModSim` for every bus of
the profile, each with its driver's protocol, interface, channel, bitrate
and group, in one world. With bus params the service is one
:class:`ModSim` in a world of its own (a standalone bus).

Faults are injected through methods (:meth:`ModSim.silence`,
:meth:`ModSim.inject` by the status bit's real number, :meth:`ModSim.fault`
by kind, ...), used by tests and the control API, each naming the module
by its :class:`~pecc_core.power.ModuleId` (or, in tests, by its address on
the simulator's bus). A status bit of a stopping kind (hardware, input,
over-voltage, over-temperature) stops the module's power stage as long as
it is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import can

from pecc_core.errors import ConfigError
from pecc_core.power import Fault, ModuleId
from pecc_plugins.canbus.link import CanLink
from pecc_plugins.modsim.infy import InfyResponder
from pecc_plugins.modsim.physics import ModuleOutput
from pecc_plugins.modsim.responder import Responder, SimModule
from pecc_plugins.modsim.settings import SimSettings
from pecc_plugins.modsim.uu import UuResponder
from pecc_plugins.modsim.world import SimWorld, Surroundings

if TYPE_CHECKING:
    from pecc_core.profile.model import PowerBusConfig

log = logging.getLogger(__name__)

#: The module's own watchdog per protocol (s; CAN-PROTOCOLS.md: Infy 10 s; UU "some seconds").
WATCHDOG_S = {"uugreen": 5.0, "infy": 10.0}


class ModSim:
    """Simulated modules of one bus of the profile, answering on that bus.

    :param world: the physics it shares with the station's other buses;
        None: a world of its own, started and stopped with it.
    """

    def __init__(self, settings: SimSettings, station: Surroundings, world: SimWorld | None = None) -> None:
        if settings.bus is None:
            raise ConfigError("modsim: params.channel: expected the bus to simulate the modules on")
        self.settings = settings
        self.station = station
        self.world = SimWorld(settings, station) if world is None else world
        self._owns_world = world is None
        self.plant = self.world.plant
        #: the guns' output nodes (the world's)
        self.nodes = self.world.nodes
        buses = {bus.name: bus for bus in station.profile.power.buses}
        name = settings.bus_name or next(iter(buses))
        if name not in buses or (settings.bus_name is None and len(buses) > 1):
            raise ConfigError(f"modsim: params.bus: expected one of the profile's buses {sorted(buses)}")
        #: The profile's bus these modules are on.
        self.bus = name
        self.watchdog_s = settings.watchdog_s or WATCHDOG_S[settings.protocol]
        self.modules: dict[int, SimModule] = {
            m.address: SimModule(ModuleOutput(m.address, m.voltage_max, m.current_max, m.power_max, m.voltage_min))
            for m in buses[name].modules
        }
        for module in self.modules.values():
            module.output.temperature = settings.physics.ambient_c
        self.link = CanLink(settings.bus, self._received, name=f"modsim-{name}")
        self.responder = _responder(settings, self)
        self.world.buses.append(self)
        self._now = 0.0

    # -- Service ------------------------------------------------------------------

    async def start(self) -> None:
        self._now = asyncio.get_running_loop().time()
        for module in self.modules.values():
            module.last_rx = self._now
        await self.link.start()
        if self._owns_world:
            await self.world.start()

    async def stop(self) -> None:
        if self._owns_world:
            await self.world.stop()
        await self.link.stop()

    # -- fault injection ------------------------------------------------------------

    def simulates(self, module: ModuleId) -> bool:
        """:class:`~pecc_core.power.InjectsModuleFaults`: ``module`` is on this simulator's bus."""
        return module.bus == self.bus and module.address in self.modules

    def sim_module(self, module: ModuleId | int) -> SimModule:
        """A simulated module by its id, or by its address on this simulator's bus; KeyError if none."""
        if isinstance(module, ModuleId):
            if module.bus != self.bus:
                raise KeyError(str(module))
            module = module.address
        return self.modules[module]

    def silence(self, module: ModuleId | int, silent: bool = True) -> None:
        """Make a module deaf and mute (its own watchdog then stops its output)."""
        self.sim_module(module).silent = silent

    def slow(self, module: ModuleId | int, delay_s: float) -> None:
        """Delay every reply of a module by ``delay_s`` seconds (0: answer at once)."""
        self.sim_module(module).reply_delay_s = delay_s

    def alarm(self, module: ModuleId | int, bits: int) -> None:
        """Set the raw status/alarm bits a module reports (protocol layout)."""
        sim = self.sim_module(module)
        sim.alarm_bits = bits
        sim.output.stopped = self.responder.stops(bits)

    def inject(self, module: ModuleId | int, bit: int, active: bool = True) -> None:
        """Set (or clear) one status bit by its number in the protocol's status word.

        UU: bit 0..31 of the cmd 8 word; Infy: ``(7 - byte) * 8 + bit`` of
        the alarm bytes 5-7.
        """
        sim = self.sim_module(module)
        bits = sim.alarm_bits | 1 << bit if active else sim.alarm_bits & ~(1 << bit)
        self.alarm(module, bits)

    def fault(self, module: ModuleId | int, fault: Fault, active: bool = True) -> None:
        """Make a module report (or stop reporting) ``fault`` by the first status bit of that kind."""
        self.inject(module, self.responder.bit_for(fault), active)

    def refuse(self, module: ModuleId | int, error: int) -> None:
        """Infy: refuse every set with ``error`` in the reply's identifier (0: accept again)."""
        self.sim_module(module).refusal = error

    def over_temperature(self, module: ModuleId | int, celsius: float | None = 95.0) -> None:
        """Force a module's temperature (None: back to the thermal model)."""
        self.sim_module(module).output.forced_temperature = celsius

    def clear(self, module: ModuleId | int) -> None:
        """Undo every injection on a module."""
        sim = self.sim_module(module)
        sim.silent = False
        sim.reply_delay_s = 0.0
        sim.refusal = 0
        self.alarm(module, 0)
        sim.output.forced_temperature = None

    # -- for responders -------------------------------------------------------------

    def reachable(self, address: int) -> SimModule | None:
        """The module a frame to ``address`` reaches (feeding its watchdog), or None."""
        module = self.modules.get(address)
        if module is None or module.silent:
            return None
        module.last_rx = self._now
        return module

    def listening(self) -> Iterator[SimModule]:
        """Every module that hears a broadcast (feeding their watchdogs)."""
        for module in self.modules.values():
            if not module.silent:
                module.last_rx = self._now
                yield module

    def reply(self, module: SimModule, arbitration_id: int, data: bytes) -> None:
        """Send a module's reply, late if it has been made slow."""
        if module.reply_delay_s > 0:
            asyncio.get_running_loop().call_later(module.reply_delay_s, self.link.send, arbitration_id, data)
        else:
            self.link.send(arbitration_id, data)

    # -- the simulation -------------------------------------------------------------

    def _received(self, msg: can.Message) -> None:
        self._now = asyncio.get_running_loop().time()
        self.responder.handle(msg.arbitration_id, msg.data)

    def tick(self, now: float) -> None:
        """The world's tick: a module not addressed for its watchdog time switches its output off."""
        self._now = now
        for module in self.modules.values():
            if module.output.on and now - module.last_rx > self.watchdog_s:
                module.output.on = False
                log.info("modsim: module %s watchdog: output off", ModuleId(self.bus, module.output.address))


class StationSim:
    """Simulated modules of every bus of the profile, in one world (``modsim`` without bus params).

    Each bus gets a :class:`ModSim` with its driver's protocol (the driver's
    name), bus (interface, channel, bitrate) and group; the params give the
    physics and, if set, the watchdog of every bus.
    """

    def __init__(self, settings: SimSettings, station: Surroundings) -> None:
        self.world = SimWorld(settings, station)
        #: A simulator per bus of the profile, by its name.
        self.buses = {
            bus.name: ModSim(_bus_settings(settings, bus), station, self.world) for bus in station.profile.power.buses
        }

    async def start(self) -> None:
        for sim in self.buses.values():
            await sim.start()
        await self.world.start()

    async def stop(self) -> None:
        await self.world.stop()
        for sim in self.buses.values():
            await sim.stop()

    # -- fault injection: by ModuleId, on the module's bus ------------------------------

    def simulates(self, module: ModuleId) -> bool:
        sim = self.buses.get(module.bus)
        return sim is not None and sim.simulates(module)

    def silence(self, module: ModuleId, silent: bool = True) -> None:
        self.buses[module.bus].silence(module, silent)

    def inject(self, module: ModuleId, bit: int, active: bool = True) -> None:
        self.buses[module.bus].inject(module, bit, active)

    def fault(self, module: ModuleId, fault: Fault, active: bool = True) -> None:
        self.buses[module.bus].fault(module, fault, active)

    def clear(self, module: ModuleId) -> None:
        self.buses[module.bus].clear(module)


def make_modsim(settings: SimSettings, station: Surroundings) -> ModSim | StationSim:
    """The ``modsim`` service: one bus when the params say where (``channel``), else every bus of the profile."""
    return StationSim(settings, station) if settings.bus is None else ModSim(settings, station)


def _bus_settings(settings: SimSettings, bus: PowerBusConfig) -> SimSettings:
    """``settings`` for simulating ``bus``: its driver's protocol, bus and group."""
    params: Any = bus.driver.params
    if bus.driver.name not in PROTOCOLS or not hasattr(params, "bus"):
        raise ConfigError(
            f"modsim: {bus.key}.driver.name: got {bus.driver.name!r}; modsim simulates {', '.join(sorted(PROTOCOLS))}"
        )
    return replace(settings, bus=params.bus, bus_name=bus.name, protocol=bus.driver.name, group=params.group)


PROTOCOLS: dict[str, Callable[[ModSim, int], Responder]] = {"uugreen": UuResponder, "infy": InfyResponder}


def _responder(settings: SimSettings, sim: ModSim) -> Responder:
    try:
        return PROTOCOLS[settings.protocol](sim, settings.group)
    except KeyError:
        raise ValueError(f"modsim: unknown protocol {settings.protocol!r}") from None
