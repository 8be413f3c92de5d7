"""What the simulated modules of every bus share: the guns' output nodes, the cars, one physics tick.

A gun may draw on modules of several buses (the relay matrix reaches
across them): their outputs meet on the gun's one node, so the physics is
stepped once for every simulated bus together. :class:`SimWorld` steps it
every ``tick_ms`` from what the station shows (which gun each module is
switched onto, the guns' contactors, each gun's last target for the car
model) and ticks each bus's simulator (:class:`~.service.ModSim`: its
modules' watchdogs) first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from pecc_core.asyncutil import cancel
from pecc_core.episode import Episode
from pecc_core.model import Phase
from pecc_core.power import ModuleId
from pecc_plugins.modsim.physics import Battery, ModuleOutput, Node, Plant
from pecc_plugins.modsim.settings import SimSettings

if TYPE_CHECKING:
    from pecc_core.io import Io
    from pecc_core.model import Target
    from pecc_core.profile.model import Profile
    from pecc_plugins.modsim.responder import SimModule

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


class SimBus(Protocol):
    """One simulated bus as the world steps it."""

    bus: str
    modules: dict[int, SimModule]

    def tick(self, now: float) -> None:
        """The tick's time: the bus's modules' watchdogs."""


class SimWorld:
    """The physics of every simulated bus of a station (see the module doc)."""

    def __init__(self, settings: SimSettings, station: Surroundings) -> None:
        self.settings = settings
        self.station = station
        self.plant = Plant(settings.physics)
        self.nodes: dict[str, Node] = {gun: Node() for gun in station.guns}
        #: the outputs of modules switched onto no gun
        self.free_nodes: dict[ModuleId, Node] = {}
        self.buses: list[SimBus] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        follow = getattr(self.station.io.connector, "follow", None)
        if follow is not None:  # a simulated connector sensor reads the gun nodes
            follow(self.connector_voltage)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="modsim")

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None

    def connector_voltage(self, gun: str) -> float | None:
        """The voltage of ``gun``'s output node: what a sensor at its connector reads."""
        node = self.nodes.get(gun)
        return None if node is None else node.voltage

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        dt = self.settings.tick_s
        failures = Episode(log, "modsim: simulation step")
        while True:
            await asyncio.sleep(dt)
            now = loop.time()
            try:
                for bus in self.buses:
                    bus.tick(now)
                self._step(dt)
            except Exception as exc:
                failures.failed(exc, traceback=True, level=logging.ERROR)
                continue
            failures.ok()

    def _step(self, dt: float) -> None:
        on_gun: dict[str, list[ModuleOutput]] = {gun: [] for gun in self.nodes}
        matrix = self.station.io.matrix
        for bus in self.buses:
            for address, module in bus.modules.items():
                module_id = ModuleId(bus.bus, address)
                gun = matrix.gun_of(module_id)
                if gun is None:
                    free = self.free_nodes.setdefault(module_id, Node())
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
