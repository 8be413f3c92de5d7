"""The station: the cabinet's guns, module pool, power driver, I/O and policy, on one loop.

Built from a validated profile by :meth:`Station.build`, which asks the
plugin registries for each named driver; started and stopped by the
runtime. While running, a control loop ticks every
``timings.control_cycle_ms``: each gun refreshes its measurements and
checks its fault conditions, then the policy's allocation is applied
safely (caps lowered at once, modules moved only when off with ~0 A).
Setpoints do not wait for the loop: a targetValues request reaches the
power driver from :class:`ChargePoint` directly. Stopping always ends with
every gun in standby and every module off, whatever state it was in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pecc_core.asyncutil import call_maybe_async, poll_until
from pecc_core.chargepoint import OFF_TIMEOUT, ChargePoint
from pecc_core.pool import ModulePool, PoolError
from pecc_core.runtime_limits import parse_update

if TYPE_CHECKING:
    from pecc_core.io import Contactors, IsolationMonitor, RelayMatrix, Supervision
    from pecc_core.limits import Allocation, LimitPolicy
    from pecc_core.plugins import PluginManager
    from pecc_core.power import ModuleState, PowerDriver
    from pecc_core.profile.model import Profile

log = logging.getLogger(__name__)

STARTUP_WAIT = 3.0  # s: several poll periods of any driver
STARTUP_POLL = 0.02


@dataclass(slots=True)
class Io:
    contactors: Contactors
    imd: IsolationMonitor
    supervision: Supervision
    matrix: RelayMatrix


class Station:
    """Everything one PECC process drives."""

    def __init__(
        self,
        profile: Profile,
        plugins: PluginManager,
        driver: PowerDriver,
        io: Io,
        policy: LimitPolicy,
    ) -> None:
        self.profile = profile
        self.plugins = plugins
        self.driver = driver
        self.io = io
        self.policy = policy
        #: The policy's validated params and the raw ones they came from
        #: (run-time updates merge into the raw ones and replace both).
        self.policy_params: Any = profile.policy.params
        self._policy_raw: dict[str, Any] = dict(profile.policy.raw)
        self.cycle = profile.timings.control_cycle_ms / 1000
        self.pool = ModulePool(
            profile.power, [g.id for g in profile.guns], driver, io.matrix, profile.site.max_power_w
        )
        self.guns: dict[str, ChargePoint] = {g.id: ChargePoint(g, self) for g in profile.guns}
        self.by_path: dict[str, ChargePoint] = {gun.path: gun for gun in self.guns.values()}
        #: The policy's last answer (None before the first control cycle).
        self.allocation: Allocation | None = None
        #: The profile's services, set by the runtime once built: plugins that
        #: control them (the control API's simulator routes) find them here.
        self.services: tuple[Any, ...] = ()
        #: Module moves done and refused since start (metrics, tests).
        self.moves = 0
        self.refused_moves = 0
        self._gun_list = tuple(self.guns.values())
        self._control: asyncio.Task[None] | None = None
        self._mover: asyncio.Task[None] | None = None
        self._reallocate = False

    @classmethod
    def build(cls, profile: Profile, plugins: PluginManager) -> Station:
        """Instantiate the profile's driver, I/O drivers and policy (nothing started yet)."""
        driver_choice = profile.power.driver
        driver = plugins.registry("power_driver").get(driver_choice.name).factory(
            driver_choice.params, profile.power.modules
        )
        io = Io(
            **{
                role: plugins.registry(f"io.{role}").get(choice.name).factory(choice.params, profile)
                for role, choice in (
                    ("contactors", profile.io.contactors),
                    ("imd", profile.io.imd),
                    ("supervision", profile.io.supervision),
                    ("matrix", profile.io.matrix),
                )
            }
        )
        policy = plugins.registry("limit_policy").get(profile.policy.name).factory(profile.policy.params)
        return cls(profile, plugins, driver, io, policy)

    # -- run-time limits (control API) ----------------------------------------------

    def limits_snapshot(self) -> dict[str, Any]:
        """The run-time limits now: site cap, every gun's caps, the policy and its params."""
        return {
            "site_max_power_w": self.pool.view.site_power_max,
            "guns": {gun.id: gun.caps.as_dict() for gun in self._gun_list},
            "policy": {"name": self.profile.policy.name, "params": dict(self._policy_raw)},
        }

    def apply_limits(self, raw: Any) -> dict[str, Any]:
        """Validate and apply a partial limits update at once; the new snapshot.

        Everything is validated (and a new policy built) before anything
        changes, so a refused update (:class:`~pecc_core.runtime_limits.LimitsError`)
        leaves the station exactly as it was. The new caps reach every gun's
        setpoint and the allocation now, not at the next cycle.
        """
        registration = self.plugins.registry("limit_policy").get(self.profile.policy.name)
        update = parse_update(
            raw,
            self.guns,
            {gun.id: gun.caps for gun in self._gun_list},
            self._policy_raw,
            registration.params,
        )
        if update.policy is not None:
            self.policy = registration.factory(update.policy)
            self.policy_params = update.policy
            self._policy_raw = {**self._policy_raw, **raw["policy"]}
        if update.site:
            self.pool.set_site_power_max(update.site["site_max_power_w"])
        for gun_id, caps in update.guns.items():
            self.guns[gun_id].set_caps(caps)
        log.info("run-time limits changed: %s", raw)
        self.allocate()
        return self.limits_snapshot()

    async def start(self) -> None:
        """Start the I/O drivers and the power driver, then the control loop."""
        for part in (*self._io_parts(), self.driver):
            await call_maybe_async(getattr(part, "start", None))
        await self._await_modules()
        self.pool.sync()
        self.driver.add_listener(self._module_changed)
        self.tick()  # status is true from the first message (inoperative until modules answer)
        self._control = asyncio.get_running_loop().create_task(self._run(), name="station-control")

    async def _await_modules(self) -> None:
        """Give the modules a bounded time to answer their first poll.

        Without it every gun would report operative, then inoperative for a
        few hundred ms until its modules are found, and an SECC that starts a
        session in that window fails. A module still silent after
        STARTUP_WAIT is left to the normal offline handling.
        """
        modules = self.driver.modules.values()
        await poll_until(lambda: all(m.online for m in modules), STARTUP_WAIT, STARTUP_POLL)
        silent = sorted(m.address for m in modules if not m.online)
        if silent:
            log.warning("modules %s did not answer within %.1f s of start", silent, STARTUP_WAIT)

    async def stop(self) -> None:
        """Every gun to standby, every module off, drivers stopped; never raises."""
        if self._control is not None:
            self._control.cancel()
        for task in (self._control, self._mover):
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        results = await asyncio.gather(
            *(gun.shutdown() for gun in self._gun_list), return_exceptions=True
        )
        for gun, result in zip(self._gun_list, results, strict=True):
            if isinstance(result, BaseException):
                log.error("gun %s: shutdown failed: %r", gun.id, result)
        addresses = list(self.pool.reach)
        try:
            self.driver.off(addresses)
            await self.driver.wait_off(addresses, OFF_TIMEOUT)
        except Exception:
            log.exception("switching the modules off failed")
        for part in (self.driver, *reversed(self._io_parts())):
            try:
                await call_maybe_async(getattr(part, "stop", None))
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)

    def _io_parts(self) -> list[Any]:
        io = self.io
        return [io.contactors, io.imd, io.supervision, io.matrix]

    # -- the control loop --------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            next_tick += self.cycle
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            try:
                self.tick()
            except Exception:  # one bad cycle must not end control of every gun
                log.exception("control cycle failed")

    def tick(self) -> None:
        """One control cycle: every gun's measurements and faults, then the allocation."""
        for gun in self._gun_list:
            gun.update()
        self.allocate()

    def _module_changed(self, module: ModuleState) -> None:
        """The driver saw a module go offline/online or its faults change."""
        gun_id = self.pool.gun_of(module.address)
        if gun_id is not None:
            self.guns[gun_id].check_modules()

    def gun_changed(self, gun: ChargePoint) -> None:
        """A gun's state changed: its demand counts before the next cycle."""
        if not self._reallocate:
            self._reallocate = True
            asyncio.get_running_loop().call_soon(self._allocate_soon)

    def _allocate_soon(self) -> None:
        self._reallocate = False
        try:
            self.allocate()
        except Exception:  # the next control cycle tries again
            log.exception("allocation failed")

    def allocate(self) -> None:
        """Ask the policy, apply its power caps now and start any module moves."""
        allocation = self.policy.allocate([g.demand() for g in self._gun_list], self.pool.view)
        self.allocation = allocation
        pool = self.pool
        moves = False
        for gun in self._gun_list:
            gun.set_power_cap(allocation.power.get(gun.id, 0.0))
            if allocation.modules.get(gun.id, ()) != pool.modules_of(gun.id):
                moves = True
        if moves and (self._mover is None or self._mover.done()):
            self._mover = asyncio.get_running_loop().create_task(
                self._rebalance(allocation), name="station-rebalance"
            )

    async def _rebalance(self, allocation: Allocation) -> None:
        """Move modules to where ``allocation`` wants them, safely.

        A gun losing a module already has its lower cap (:meth:`allocate`);
        the module is taken out of its group (its current goes to the
        others), switched off, and moved only once the pool sees it off
        with ~0 A. A refused move is retried on a later cycle.
        """
        pool = self.pool
        wanted: dict[int, str | None] = dict.fromkeys(pool.reach)
        for gun_id, addresses in allocation.modules.items():
            for address in addresses:
                wanted[address] = gun_id
        # A gun in its safe-down keeps its modules: they measure its output
        # until the discharge is verified.
        for address, gun_id in pool.assigned.items():
            if gun_id is not None and self.guns[gun_id].holds_modules:
                wanted[address] = gun_id
        leaving = [a for a, g in wanted.items() if pool.gun_of(a) not in (None, g)]
        for address in leaving:
            gun_id = pool.detach(address)
            if gun_id is not None:
                self.guns[gun_id].refresh_output()
        if leaving:
            self.driver.off(leaving)
            await self.driver.wait_off(leaving, OFF_TIMEOUT)
        to_move = [
            (a, g) for a, g in wanted.items() if pool.gun_of(a) != g or self.io.matrix.gun_of(a) != g
        ]
        await asyncio.gather(*(self._move(a, g) for a, g in to_move))

    async def _move(self, address: int, gun_id: str | None) -> None:
        try:
            await self.pool.move(address, gun_id)
        except PoolError as exc:
            self.refused_moves += 1
            log.debug("move refused: %s", exc)
            return
        self.moves += 1
        if gun_id is not None:
            self.guns[gun_id].refresh_output()
