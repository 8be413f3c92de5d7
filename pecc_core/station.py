"""The station: the cabinet's guns, module pool, power stage, I/O and allocator, on one loop.

Built from a validated profile by :meth:`Station.build`, which asks the
plugin registries for each named driver (a power driver per bus, together
the :class:`~pecc_core.stage.PowerStage`); started and stopped by the
runtime. While running, a control loop ticks every
``timings.control_cycle_ms``: each gun refreshes its measurements and
checks its fault conditions (a gun whose cycle fails is taken to a safe
state; the others carry on), then the :class:`PowerAllocator` applies the
policy's allocation. The loop notes when it ticks late
(:class:`~pecc_core.stalls.LoopStalls`): time the loop did not run does
not count as silence of the modules. Setpoints do not wait for the loop: a targetValues
request reaches the power stage from :class:`~pecc_core.gun.Gun`
directly. Stopping always ends with every gun in standby and every module
off, whatever state it was in.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from pecc_core.allocator import PowerAllocator
from pecc_core.asyncutil import call_maybe_async, cancel, poll_until
from pecc_core.gun import Gun, Observers, Wiring
from pecc_core.gun.limits import SAFE_VOLTAGE
from pecc_core.gun.safe_down import OFF_TIMEOUT
from pecc_core.io import IO_ROLES, Io
from pecc_core.pool import ModulePool
from pecc_core.stage import PowerStage
from pecc_core.stalls import LoopStalls

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import pluggy

    from pecc_core.policy import LimitPolicy
    from pecc_core.power import ModuleId, ModuleState
    from pecc_core.profile.model import PluginChoice, Profile
    from pecc_core.records import Session
    from pecc_core.registry import Registry
    from pecc_core.transport import Transport

log = logging.getLogger(__name__)


class Plugins(Observers, Protocol):
    """The plugin manager as the station and the plugins reach it (``station.plugins``).

    :class:`pecc_core.plugins.PluginManager` is the one implementation. A
    protocol, because the hook specifications name the station: were the
    station to import the manager, which imports those specifications, the
    three would import each other.
    """

    @property
    def pluggy_manager(self) -> pluggy.PluginManager: ...

    def registry(self, category: str) -> Registry: ...

    def build(self, category: str, key: str, choice: PluginChoice, *args: Any) -> Any: ...

    def register(self, plugin: object, name: str, version: str = "?") -> None: ...

    def unregister(self, name: str) -> None: ...

    def get_plugin(self, name: str) -> object | None: ...

    def station_emergency(self, station: Station, guns: Sequence[Gun], reason: str) -> None: ...

    def secc_connected(self, gun: Gun, peer: str, subprotocol: str | None) -> None: ...

    def secc_disconnected(self, gun: Gun, reason: str) -> None: ...

    def request_refused(self, gun: Gun, kind: str, category: str, details: str) -> None: ...

    def event_recorded(self, station: Station, event: Mapping[str, Any]) -> None: ...

    def session_recorded(self, station: Station, session: Session) -> None: ...

STARTUP_WAIT = 3.0  # s: several poll periods of any driver
STARTUP_POLL = 0.02
#: s: how long start waits for every output below SAFE_VOLTAGE after switching off
#: (a module's output capacitance through its bleeder: a few seconds from 1000 V)
DISCHARGE_WAIT = 10.0


class Station:
    """Everything one PECC process drives."""

    def __init__(
        self,
        profile: Profile,
        plugins: Plugins,
        power: PowerStage,
        io: Io,
        policy: LimitPolicy,
    ) -> None:
        self.profile = profile
        self.plugins = plugins
        #: Every bus of power modules, one driver each.
        self.power = power
        self.io = io
        self.cycle = profile.timings.control_cycle_ms / 1000
        #: When the loop ran late: a starved loop does not make the modules silent.
        self.stalls = LoopStalls(self.cycle)
        self.pool = ModulePool(
            profile.power,
            [g.id for g in profile.guns],
            power,
            io.matrix,
            profile.site.max_power_w,
            profile.safety.reading_stale_ms,
            self.stalls,
        )
        self.allocator = PowerAllocator(policy, dict(profile.policy.raw), self.pool, power)
        wiring = Wiring(
            pool=self.pool,
            power=power,
            io=io,
            wake=self.allocator.wake,
            timings=profile.timings,
            station=profile.station,
            safety=profile.safety,
        )
        self.guns: dict[str, Gun] = {g.id: Gun(g, wiring, plugins) for g in profile.guns}
        self.by_path: dict[str, Gun] = {gun.path: gun for gun in self.guns.values()}
        self.allocator.serve(self.guns.values())
        #: The profile's services, set by the runtime once built: plugins that
        #: control them (the control API's simulator routes) find them here.
        self.services: tuple[Any, ...] = ()
        #: The transport, set by the runtime once built: the ops server reads
        #: its counters for the metrics if it has them
        #: (:class:`~pecc_core.transport.HasTransportStats`).
        self.transport: Transport | None = None
        self._gun_list = tuple(self.guns.values())
        self._control: asyncio.Task[None] | None = None

    @classmethod
    def build(cls, profile: Profile, plugins: Plugins) -> Station:
        """Instantiate the profile's power drivers (one per bus), I/O drivers and policy (nothing started yet).

        A factory that refuses its part raises :class:`~pecc_core.errors.ConfigError`
        naming the profile key (see :meth:`pecc_core.plugins.PluginManager.build`).
        """
        power = PowerStage({
            bus.name: plugins.build("power_driver", f"{bus.key}.driver", bus.driver, bus.driver.params, bus.modules)
            for bus in profile.power.buses
        })
        choices = {role: getattr(profile.io, role) for role in IO_ROLES}
        io = Io(
            **{
                role: plugins.build(f"io.{role}", f"io.{role}", choice, choice.params, profile)
                for role, choice in choices.items()
                if choice is not None  # an optional role the profile leaves out
            }
        )
        policy = plugins.build("limit_policy", "policy", profile.policy, profile.policy.params)
        return cls(profile, plugins, power, io, policy)

    async def start(self) -> None:
        """Start the I/O drivers and the power stage (every bus), then the control loop."""
        for part in self._io_parts():
            await call_maybe_async(getattr(part, "start", None))
        await self.power.start()
        await self._await_modules()
        await self._make_safe()
        self.pool.sync()
        self.power.add_listener(self._module_changed)
        self.allocator.start()
        self.tick()  # status is true from the first message (inoperative until modules answer)
        self._control = asyncio.get_running_loop().create_task(self._run(), name="station-control")

    async def _await_modules(self) -> None:
        """Give the modules a bounded time to answer their first poll.

        Without it every gun would report operative, then inoperative for a
        few hundred ms until its modules are found, and an SECC that starts a
        session in that window fails. A module still silent after
        STARTUP_WAIT is left to the normal offline handling.
        """
        modules = self.power.modules.values()
        await poll_until(lambda: all(m.online for m in modules), STARTUP_WAIT, STARTUP_POLL)
        silent = sorted(m.id for m in modules if not m.online)
        if silent:
            log.warning("modules %s did not answer within %.1f s of start", _names(silent), STARTUP_WAIT)

    async def _make_safe(self) -> None:
        """Bring whatever a previous run left on off and open, before any SECC can connect.

        Hardware outlives the PECC: after a crash or a SIGKILL the modules
        may still drive (until their own watchdog) and contactors may be
        closed. Every module the driver can reach is switched off (which
        ramps its current down), then every contactor is commanded open,
        then start waits, bounded, for every module's output below
        SAFE_VOLTAGE. What was found on is logged; what does not follow is
        logged too and left to the fault checks (the gun then reports
        inoperative).
        """
        modules = self.power.modules
        driving = sorted(
            a for a, m in modules.items() if m.online and (m.current > 1.0 or m.voltage >= SAFE_VOLTAGE)
        )
        closed = sorted(g for g in self.guns if self.io.contactors.closed(g))
        if driving or closed:
            log.warning(
                "start: found modules %s driving and the contactors of guns %s closed; "
                "switching off and opening before serving",
                _names(driving),
                closed,
            )
        ids = list(modules)
        try:
            self.power.off(ids)
            if not await self.power.wait_off([a for a in ids if modules[a].online], OFF_TIMEOUT):
                log.error("start: modules still driving %.1f s after off", OFF_TIMEOUT)
        except Exception:
            log.exception("start: switching the modules off failed")
        results = await asyncio.gather(
            *(self.io.contactors.set(gun, False) for gun in self.guns), return_exceptions=True
        )
        for gun, result in zip(self.guns, results, strict=True):
            if isinstance(result, BaseException):
                log.error("start: gun %s: opening the contactors failed: %s", gun, result)

        def live() -> list[ModuleId]:
            return sorted(a for a, m in modules.items() if m.online and m.voltage >= SAFE_VOLTAGE)

        if not await poll_until(lambda: not live(), DISCHARGE_WAIT, STARTUP_POLL):
            log.error("start: modules %s still above %g V after %.0f s", _names(live()), SAFE_VOLTAGE, DISCHARGE_WAIT)
        elif driving or closed:
            log.warning("start: every module off, every contactor open, every output below %g V", SAFE_VOLTAGE)

    async def stop(self) -> None:
        """Every gun to standby, every module off, drivers stopped; never raises."""
        try:
            await cancel(self._control)
        except Exception:
            log.exception("the control loop failed")
        await self.allocator.stop()
        results = await asyncio.gather(
            *(gun.shutdown() for gun in self._gun_list), return_exceptions=True
        )
        for gun, result in zip(self._gun_list, results, strict=True):
            if isinstance(result, BaseException):
                log.error("gun %s: shutdown failed: %r", gun.id, result)
        ids = list(self.pool.reach)
        try:
            self.power.off(ids)
            await self.power.wait_off(ids, OFF_TIMEOUT)
        except Exception:
            log.exception("switching the modules off failed")
        for part in (self.power, *reversed(self._io_parts())):
            try:
                await call_maybe_async(getattr(part, "stop", None))
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)

    def _io_parts(self) -> list[Any]:
        return [part for role in IO_ROLES if (part := getattr(self.io, role)) is not None]

    # -- the control loop --------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            next_tick += self.cycle
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            self.stalls.cycle(loop.time())
            try:
                self.tick()
            except Exception:  # one bad cycle must not end control of every gun
                log.exception("control cycle failed")

    def tick(self) -> None:
        """One control cycle: every gun's measurements and faults, then the allocation.

        Each gun is guarded on its own: one gun's exception never skips the
        others; that gun is taken to a safe state (a fault: outputs 0,
        safe-down) and recovers once a cycle of it runs through again.
        """
        for gun in self._gun_list:
            try:
                gun.update()
            except Exception:
                if "internal" not in gun.faults:  # once per episode: it lasts until a cycle runs through
                    log.exception("gun %s: control cycle failed; taking it to a safe state", gun.id)
                try:
                    gun.fail("control cycle failed (see the log)")
                except Exception:
                    log.exception("gun %s: taking it to a safe state failed", gun.id)
        self.allocator.allocate()

    def _module_changed(self, module: ModuleState) -> None:
        """A driver saw a module go offline/online or its faults change."""
        gun_id = self.pool.gun_of(module.id)
        if gun_id is not None:
            self.guns[gun_id].check_modules()


def _names(modules: list[ModuleId]) -> str:
    """Modules as a log line names them: ``can1:5, can2:1``."""
    return ", ".join(map(str, modules))
