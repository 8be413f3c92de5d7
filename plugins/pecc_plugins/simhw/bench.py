"""The simulated hardware as its own process: ``pecc sim-hw --profile NAME``.

A :class:`Bench` is what stands in the cabinet: the CAN wiring (a
:class:`~pecc_plugins.canbus.unixbus.BusHub` per bus), the simulated modules
(a :class:`~pecc_plugins.modsim.service.ModSim` on each bus, speaking its
vendor's protocol), and the simulated
I/O (:mod:`pecc_plugins.simio`) behind an I/O link (:mod:`.wire`). It lives
on when the PECC dies, as hardware does:

- every output holds its last state: contactors stay as commanded, relays
  stay switched, modules keep driving until their own watchdog (the
  protocol's silence timeout) switches them off;
- the CP/PP interlock is wired "in hardware": when the pilot leaves state C
  (supervision refuses), the contactors of that gun open, whatever the
  PECC says;
- the car behind each gun follows the targets the PECC forwards (in the
  field the car is physically there; here it needs to be told).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pecc_core.asyncutil import call_maybe_async, cancel
from pecc_core.io import IO_ROLES, ContactorError, ImdSample, Io
from pecc_core.model import Isolation, Phase, Target
from pecc_core.plugins import PluginManager
from pecc_core.power import Fault, ModuleId
from pecc_core.profile.model import PluginChoice, Profile
from pecc_plugins import simio
from pecc_plugins.canbus.unixbus import BusHub, socket_path
from pecc_plugins.modsim.service import ModSim
from pecc_plugins.modsim.settings import SimSettings
from pecc_plugins.modsim.world import SimWorld
from pecc_plugins.simhw import wire
from pecc_plugins.simio import (
    SimConnectorVoltage,
    SimContactors,
    SimEmergencyStop,
    SimIsolationMonitor,
    SimSupervision,
)

log = logging.getLogger(__name__)

#: how often the bench samples its I/O for the PECC (and checks the interlock)
SAMPLE_S = 0.02
#: a sampling this late is logged as a stall of the simulation (s)
STALL_S = 0.25
#: a full state goes out at least this often, changed or not (the PECC sees the link alive)
HEARTBEAT_S = 1.0

_Driver = TypeVar("_Driver")


@dataclass(slots=True)
class Car:
    """The car behind one gun, as far as the module physics needs it."""

    target: Target | None = None


def sim_io(profile: Profile, plugins: PluginManager) -> Io:
    """The ``sim`` I/O driver of every role, with its default params, for ``profile``'s guns."""
    drivers = {}
    for role in IO_ROLES:
        registration = plugins.registry(f"io.{role}").get("sim")
        params = registration.params().load({}) if registration.params is not None else {}
        drivers[role] = plugins.build(f"io.{role}", f"sim-hw io.{role}", PluginChoice("sim", params), params, profile)
    return Io(**drivers)


def _sim(driver: object, kind: type[_Driver]) -> _Driver:
    """``driver`` as the sim driver ``kind``: the bench uses its own methods (faults, the commanded state)."""
    if not isinstance(driver, kind):
        raise TypeError(f"sim-hw: the 'sim' driver is a {type(driver).__name__}, not a {kind.__name__}")
    return driver


@dataclass
class Bench:
    """Simulated modules and I/O of ``profile``, served to any PECC that connects.

    ``settings``: the module simulator of each of the profile's buses (one
    alone for a profile of one bus).
    """

    profile: Profile
    settings: SimSettings | Sequence[SimSettings]
    io_channel: str
    plugins: PluginManager
    io: Io = field(init=False)
    guns: dict[str, Car] = field(init=False)
    modsims: dict[str, ModSim] = field(init=False)

    def __post_init__(self) -> None:
        self.io = sim_io(self.profile, self.plugins)
        simio.wire(self.io)  # as in the cabinet: the IMD reads the output voltage, CP/PP gates the contactors
        self.contactors = _sim(self.io.contactors, SimContactors)
        self.imd = _sim(self.io.imd, SimIsolationMonitor)
        self.supervision = _sim(self.io.supervision, SimSupervision)
        self.estop = _sim(self.io.estop, SimEmergencyStop)  # sim_io builds every role, the optional ones too
        self.connector = _sim(self.io.connector, SimConnectorVoltage)
        self.guns = {g.id: Car() for g in self.profile.guns}
        each = [self.settings] if isinstance(self.settings, SimSettings) else list(self.settings)
        self.hubs = [BusHub(settings.bus.channel) for settings in each if settings.bus is not None]
        #: The physics every bus's modules share: a gun fed from two buses has one output node.
        self.world = SimWorld(each[0], self)
        sims = [ModSim(settings, self, self.world) for settings in each]
        #: The module simulator of each bus, by the profile's bus name.
        self.modsims = {sim.bus: sim for sim in sims}
        missing = sorted({bus.name for bus in self.profile.power.buses} - set(self.modsims))
        if len(self.modsims) < len(sims) or missing:
            raise ValueError(f"sim-hw: expected one module simulator per bus of the profile; missing {missing}")
        #: Every module the relay matrix switches, of every bus.
        self._module_ids = tuple(m.id for m in self.profile.power.modules)
        self._server: asyncio.Server | None = None
        self._peers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._sampler: asyncio.Task[None] | None = None
        self._switching: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._self_tests: dict[str, list[Any]] = {}  # gun: [request id, passed]

    async def start(self) -> None:
        for role in IO_ROLES:  # the station's lifecycle calls, as Station.start makes them
            await call_maybe_async(getattr(getattr(self.io, role), "start", None))
        for hub in self.hubs:
            await hub.start()
        for sim in self.modsims.values():
            await sim.start()
        await self.world.start()
        path = socket_path(self.io_channel, "io")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._server = await asyncio.start_unix_server(self._peer, path=str(path))
        path.chmod(0o600)
        self._sampler = asyncio.get_running_loop().create_task(self._sample(), name="sim-hw-sample")
        log.info("sim-hw %s: CAN hubs %s, I/O link %s", self.profile.name, self.hub_paths(), path)

    async def stop(self) -> None:
        await cancel(self._sampler)
        for task in (*self._tasks, *self._switching.values()):
            task.cancel()
        if self._server is not None:
            self._server.close()
            for peer in list(self._peers):
                peer.close()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            with contextlib.suppress(FileNotFoundError):
                socket_path(self.io_channel, "io").unlink()
        await self.world.stop()
        for sim in self.modsims.values():
            await sim.stop()
        for hub in self.hubs:
            await hub.stop()
        for role in reversed(IO_ROLES):
            await call_maybe_async(getattr(getattr(self.io, role), "stop", None))

    def hub_paths(self) -> str:
        return ", ".join(str(hub.path) for hub in self.hubs)

    # -- what the PECC sees ------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        return {
            "contactors": {g: self.contactors.closed(g) for g in self.guns},
            "imd": {g: _sample(self.imd.sample(g)) for g in self.guns},
            "selftest": dict(self._self_tests),
            "supervision": {g: self.supervision.allowed(g) for g in self.guns},
            "matrix": {str(m): self.io.matrix.gun_of(m) for m in self._module_ids},
            "estop": {g: self.estop.pressed(g) for g in self.guns},
            # a DC meter's resolution: the state changes (and goes out) when the reading does
            "connector": {g: _reading(self.connector.voltage(g)) for g in self.guns},
        }

    async def _sample(self) -> None:
        loop = asyncio.get_running_loop()
        last, sent_at = b"", 0.0
        due = loop.time()
        while True:
            due += SAMPLE_S
            await asyncio.sleep(max(0.0, due - loop.time()))
            late = loop.time() - due
            if late > STALL_S:
                # real hardware does not stall; a simulation on a busy machine does, and its
                # modules are silent meanwhile: say so, so that the PECC's reaction is explained
                log.warning("sim-hw: the simulation stalled for %.0f ms (the machine is busy)", late * 1000)
                due = loop.time()
            self._interlock()
            text = wire.encode({"state": self.state()})
            if text != last or loop.time() - sent_at >= HEARTBEAT_S:
                for peer in tuple(self._peers):
                    peer.write(text)
                last, sent_at = text, loop.time()

    def _interlock(self) -> None:
        """CP/PP: a gun whose pilot left state C gets its contactors opened, by wiring."""
        for gun in self.guns:
            if self.contactors.commanded(gun) and not self.supervision.allowed(gun):
                log.info("sim-hw: gun %s: CP/PP interlock opens the contactors", gun)
                self._switch(gun, False)

    # -- what the PECC commands ----------------------------------------------------------

    async def _peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._peers.add(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        writer.write(wire.encode({"state": self.state()}))
        log.info("sim-hw: a PECC connected")
        try:
            async for line in reader:
                try:
                    reply = self.obey(wire.decode(line))
                    if reply is not None:
                        writer.write(wire.encode(reply))
                except (ValueError, KeyError, TypeError) as exc:
                    log.warning("sim-hw: bad I/O link message %r: %s", line[:200], exc)
        except ConnectionError:
            pass
        finally:
            self._peers.discard(writer)
            self._handlers.discard(handler)
            writer.close()
            log.info("sim-hw: a PECC disconnected; outputs hold their state")

    def obey(self, msg: dict[str, Any]) -> dict[str, Any] | None:
        """One command from the PECC (or a test bench's fault injection); the reply to send, if any."""
        op, io = msg["op"], self.io
        if op == "inspect":
            return {"inspect": self.inspect()}
        if op == "contactors":
            self._switch(msg["gun"], bool(msg["closed"]))
        elif op == "imd":
            (io.imd.start_monitoring if msg["run"] else io.imd.stop_monitoring)(self._gun(msg["gun"]))
        elif op == "selftest":
            self._spawn(self._self_test(self._gun(msg["gun"]), float(msg["voltage"]), int(msg["id"])))
        elif op == "matrix":
            gun = msg["gun"]
            self._spawn(io.matrix.connect(self._module(msg["module"]), None if gun is None else self._gun(gun)))
        elif op == "car":
            t = msg["target"]
            self.guns[self._gun(msg["gun"])].target = (
                None if t is None else Target(float(t[0]), float(t[1]), float(t[2]), Phase(t[3]))
            )
        elif op == "inject":
            self._inject(msg)
        else:
            raise ValueError(f"unknown op {op!r}")
        return None

    def inspect(self) -> dict[str, Any]:
        """What a technician would measure: every module's output, every gun's voltage and contactors."""
        return {
            "modules": {
                str(ModuleId(bus, a)): {"on": m.output.on, "voltage": m.output.voltage, "current": m.output.current}
                for bus, sim in self.modsims.items()
                for a, m in sim.modules.items()
            },
            "guns": {
                g: {"voltage": self.connector_voltage(g), "contactors": self.io.contactors.closed(g)}
                for g in self.guns
            },
        }

    def _inject(self, msg: dict[str, Any]) -> None:
        what = msg["what"]
        if what == "imd":
            result = msg["result"]
            self.imd.inject(self._gun(msg["gun"]), None if result is None else Isolation(result))
        elif what == "supervision":
            self.supervision.allow(self._gun(msg["gun"]), bool(msg["allowed"]))
        elif what == "estop":
            gun = msg.get("gun")
            self.estop.press(None if gun is None else self._gun(gun), bool(msg["pressed"]))
        elif what == "drift":
            volts = msg["volts"]
            self.connector.drift(self._gun(msg["gun"]), None if volts is None else float(volts))
        elif what == "silence":
            sim, address = self._sim_of(msg["module"])
            sim.silence(address, bool(msg["silent"]))
        elif what == "bit":
            sim, address = self._sim_of(msg["module"])
            sim.inject(address, int(msg["bit"]), bool(msg["active"]))
        elif what == "fault":
            sim, address = self._sim_of(msg["module"])
            sim.fault(address, Fault(msg["fault"]), bool(msg["active"]))
        elif what == "clear":
            sim, address = self._sim_of(msg["module"])
            sim.clear(address)
        else:
            raise ValueError(f"unknown injection {what!r}")

    def _module(self, text: Any) -> ModuleId:
        module = ModuleId.parse(str(text), [bus.name for bus in self.profile.power.buses])
        if module not in self._module_ids:
            raise KeyError(f"no module {module}")
        return module

    def _sim_of(self, text: Any) -> tuple[ModSim, int]:
        """The simulator of a module (``"can1:5"``; a bare address on a profile of one bus) and its address."""
        module = self._module(text)
        return self.modsims[module.bus], module.address

    def connector_voltage(self, gun: str) -> float | None:
        """The gun's output node, every bus's modules feeding it (what the connector sensor reads)."""
        return self.world.connector_voltage(gun)

    def _gun(self, gun: Any) -> str:
        if gun not in self.guns:
            raise KeyError(f"no gun {gun!r}")
        return str(gun)

    def _switch(self, gun: str, closed: bool) -> None:
        gun = self._gun(gun)
        if self.contactors.commanded(gun) == closed and gun not in self._switching:
            return
        if closed and not self.supervision.allowed(gun):
            return  # the interlock holds the coil off
        previous = self._switching.pop(gun, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(self._set(gun, closed))
        self._switching[gun] = task
        task.add_done_callback(lambda t: self._switching.pop(gun, None) if self._switching.get(gun) is t else None)

    async def _set(self, gun: str, closed: bool) -> None:
        with contextlib.suppress(ContactorError):  # the PECC reads the feedback itself
            await self.io.contactors.set(gun, closed)

    async def _self_test(self, gun: str, voltage: float, request: int) -> None:
        passed = await self.io.imd.self_test(gun, voltage)
        self._self_tests[gun] = [request, passed]

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _reading(volts: float | None) -> float | None:
    return None if volts is None else round(volts, 1)


def _sample(sample: ImdSample | None) -> list[Any] | None:
    """An IMD sample on the link: its fields in order (the PECC rebuilds it)."""
    return None if sample is None else list(dataclasses.astuple(sample))
