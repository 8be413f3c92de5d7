"""The module simulator service: simulated modules on their own CAN bus.

:class:`ModSim` opens its *own* python-can bus on the driver's channel (a
``virtual`` bus does not deliver a sender's frames to itself, so driver and
simulator need one each), answers the frames of one vendor protocol
through a responder (:mod:`.uu`, :mod:`.infy`) and steps the physics
(:mod:`.physics`) every tick from what the station shows: which gun each
module is switched onto (relay matrix), the guns' contactors, and each
gun's last target (for the car model).

Faults are injected through methods (:meth:`ModSim.silence`,
:meth:`ModSim.inject` by the status bit's real number, :meth:`ModSim.fault`
by kind, ...), used by tests and the control API, each naming the module
by its :class:`~pecc_core.power.ModuleId` (or, in tests, by its address on
the simulator's bus). A status bit of a
stopping kind (hardware, input, over-voltage, over-temperature) stops the
module's power stage as long as it is set.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import can

from pecc_core.asyncutil import cancel
from pecc_core.episode import Episode
from pecc_core.errors import ConfigError
from pecc_core.model import Phase
from pecc_core.power import Fault, ModuleId
from pecc_plugins.canbus.link import CanLink
from pecc_plugins.modsim.infy import InfyResponder
from pecc_plugins.modsim.physics import Battery, ModuleOutput, Node, Plant
from pecc_plugins.modsim.responder import Responder, SimModule
from pecc_plugins.modsim.settings import SimSettings
from pecc_plugins.modsim.uu import UuResponder

if TYPE_CHECKING:
    from pecc_core.io import Io
    from pecc_core.model import Target
    from pecc_core.profile.model import Profile

log = logging.getLogger(__name__)


class Plug(Protocol):
    """What the car behind a gun follows: the SECC's last target."""

    @property
    def target(self) -> Target | None: ...


class Surroundings(Protocol):
    """What the simulated modules see around them: a station, or ``pecc sim-hw``'s bench."""

    @property
    def profile(self) -> Profile: ...

    @property
    def guns(self) -> Mapping[str, Plug]: ...

    @property
    def io(self) -> Io: ...


class ModSim:
    """Simulated modules of the station's profile, answering on the bus."""

    def __init__(self, settings: SimSettings, station: Surroundings) -> None:
        self.settings = settings
        self.station = station
        self.plant = Plant(settings.physics)
        buses = {bus.name: bus for bus in station.profile.power.buses}
        name = settings.bus_name or next(iter(buses))
        if name not in buses or (settings.bus_name is None and len(buses) > 1):
            raise ConfigError(f"modsim: params.bus: expected one of the profile's buses {sorted(buses)}")
        #: The profile's bus these modules are on.
        self.bus = name
        self.modules: dict[int, SimModule] = {
            m.address: SimModule(ModuleOutput(m.address, m.voltage_max, m.current_max, m.power_max, m.voltage_min))
            for m in buses[name].modules
        }
        for module in self.modules.values():
            module.output.temperature = settings.physics.ambient_c
        self.nodes: dict[str, Node] = {gun: Node() for gun in station.guns}
        #: the outputs of modules switched onto no gun, by address
        self.free_nodes: dict[int, Node] = {}
        self.link = CanLink(settings.bus, self._received, name="modsim")
        self.responder = _responder(settings, self)
        self._task: asyncio.Task[None] | None = None
        self._now = 0.0

    # -- Service ------------------------------------------------------------------

    async def start(self) -> None:
        follow = getattr(self.station.io.connector, "follow", None)
        if follow is not None:  # a simulated connector sensor reads the gun nodes
            follow(self.connector_voltage)
        loop = asyncio.get_running_loop()
        self._now = loop.time()
        for module in self.modules.values():
            module.last_rx = self._now
        await self.link.start()
        self._task = loop.create_task(self._run(), name="modsim")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
        await self.link.stop()

    def connector_voltage(self, gun: str) -> float | None:
        """The voltage of ``gun``'s output node: what a sensor at its connector reads."""
        node = self.nodes.get(gun)
        return None if node is None else node.voltage

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

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        dt = self.settings.tick_s
        failures = Episode(log, "modsim: simulation step")
        while True:
            await asyncio.sleep(dt)
            self._now = loop.time()
            try:
                self._watchdog()
                self._step(dt)
            except Exception as exc:
                failures.failed(exc, traceback=True, level=logging.ERROR)
                continue
            failures.ok()

    def _watchdog(self) -> None:
        limit = self.settings.watchdog_s
        for module in self.modules.values():
            if module.output.on and self._now - module.last_rx > limit:
                module.output.on = False
                log.info("modsim: module %d watchdog: output off", module.output.address)

    def _step(self, dt: float) -> None:
        on_gun: dict[str, list[ModuleOutput]] = {gun: [] for gun in self.nodes}
        matrix = self.station.io.matrix
        for address, module in self.modules.items():
            gun = matrix.gun_of(ModuleId(self.bus, address))
            if gun is None:
                free = self.free_nodes.setdefault(address, Node())
                self.plant.step(free, [module.output], dt)
            else:
                on_gun[gun].append(module.output)
        for gun, outputs in on_gun.items():
            node = self.nodes[gun]
            self._car(gun, node)
            self.plant.step(node, outputs, dt)

    def _car(self, gun: str, node: Node) -> None:
        """Follow the session of the car behind ``gun`` from the SECC's targets."""
        node.contactors = self.station.io.contactors.closed(gun)
        target = self.station.guns[gun].target
        battery = node.battery
        if target is None:
            node.battery = None
        elif target.phase is Phase.PRECHARGE:
            # in the field the SECC precharges to the car's battery voltage
            if battery is None or battery.closed:
                node.battery = Battery(target.voltage, target.soc, target.soc)
            else:
                battery.ocv0 = target.voltage
                battery.soc0 = battery.soc = target.soc
        elif target.phase is Phase.CHARGE:
            if battery is None:  # no precharge seen: the car sits at the node voltage
                battery = node.battery = Battery(node.voltage, target.soc, target.soc)
            battery.closed = True
            battery.soc = target.soc
        elif battery is not None:
            battery.closed = False


PROTOCOLS: dict[str, Callable[[ModSim, int], Responder]] = {"uugreen": UuResponder, "infy": InfyResponder}


def _responder(settings: SimSettings, sim: ModSim) -> Responder:
    try:
        return PROTOCOLS[settings.protocol](sim, settings.group)
    except KeyError:
        raise ValueError(f"modsim: unknown protocol {settings.protocol!r}") from None
