"""The power allocator: the limit policy, the module pool, and applying the policy's answer safely.

The policy (:mod:`pecc_core.policy`) decides; the allocator asks it for an
allocation every control cycle and soon after any gun's demand changes
(:meth:`PowerAllocator.wake`), applies the power allowances at once (a
lower one lowers the gun's setpoint now) and moves modules in the
background: a module leaving a gun is taken out of its group, switched
off and moved only once the pool sees it off with ~0 A. A gun in its
safe-down keeps its modules until the discharge is verified.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from pecc_core.gun.safe_down import OFF_TIMEOUT
from pecc_core.pool import PoolError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pecc_core.gun import Gun
    from pecc_core.policy import Allocation, LimitPolicy
    from pecc_core.pool import ModulePool
    from pecc_core.power import ModuleId
    from pecc_core.stage import PowerStage

log = logging.getLogger(__name__)


class PowerAllocator:
    """Shares the module pool between the guns as the policy says, never unsafely."""

    def __init__(
        self, policy: LimitPolicy, params: dict[str, Any], pool: ModulePool, power: PowerStage
    ) -> None:
        self.policy = policy
        #: The raw params the policy was built from (run-time updates merge into them).
        self.params = params
        self.pool = pool
        self.power = power
        #: The policy's last answer (None before the first allocation).
        self.allocation: Allocation | None = None
        #: Module moves done and refused since start (metrics, tests).
        self.moves = 0
        self.refused_moves = 0
        self._guns: dict[str, Gun] = {}
        self._gun_list: tuple[Gun, ...] = ()
        self._mover: asyncio.Task[None] | None = None
        self._woken = False
        self._started = False

    def serve(self, guns: Iterable[Gun]) -> None:
        """The guns to share the pool between (once, when the station is built)."""
        self._guns = {gun.id: gun for gun in guns}
        self._gun_list = tuple(self._guns.values())

    def start(self) -> None:
        """The station has made its hardware safe: allocations may move modules from now on.

        Before that (run-time limits restored while the station starts) an
        allocation sets the guns' allowances only; the station's first control
        cycle allocates again.
        """
        self._started = True

    def set_policy(self, policy: LimitPolicy, params: dict[str, Any]) -> None:
        """Replace the policy (a run-time params update); it counts from the next allocation."""
        self.policy = policy
        self.params = params

    def wake(self) -> None:
        """A gun's demand changed: allocate again soon, before the next control cycle."""
        if not self._woken:
            self._woken = True
            asyncio.get_running_loop().call_soon(self._allocate_soon)

    def _allocate_soon(self) -> None:
        self._woken = False
        try:
            self.allocate()
        except Exception:  # the next control cycle tries again
            log.exception("allocation failed")

    def allocate(self) -> None:
        """Ask the policy, apply its power allowances now and start any module moves."""
        allocation = self.policy.allocate([g.demand() for g in self._gun_list], self.pool.view)
        self.allocation = allocation
        pool = self.pool
        moves = False
        for gun in self._gun_list:
            gun.set_allowance(allocation.power.get(gun.id, 0.0))
            if allocation.modules.get(gun.id, ()) != pool.modules_of(gun.id):
                moves = True
        self._mark_starved(allocation)
        if moves and self._started and (self._mover is None or self._mover.done()):
            self._mover = asyncio.get_running_loop().create_task(
                self._rebalance(allocation), name="rebalance"
            )

    def _mark_starved(self, allocation: Allocation) -> None:
        """Tell each gun whether it can get no module at all (no silent starvation).

        A gun that wants power is starved when the allocation gives it no
        module and it has none; a gun waiting for a module to free (its
        ``no_module_free`` fault) is starved while every usable module it can
        reach is given to a gun that wants power.
        """
        pool = self.pool
        busy: set[ModuleId] | None = None
        for gun in self._gun_list:
            if gun.demand().active:
                gun.set_starved(not allocation.modules.get(gun.id) and not pool.modules_of(gun.id))
            elif "no_module_free" in gun.faults:
                if busy is None:
                    busy = {
                        a for g in self._gun_list if g.demand().active for a in allocation.modules.get(g.id, ())
                    }
                modules = self.power.modules
                gun.set_starved(not any(modules[a].usable and a not in busy for a in pool.reachable(gun.id)))
            else:
                gun.set_starved(False)

    async def stop(self) -> None:
        """Station stop: let a rebalance in progress finish (it never leaves a module hot)."""
        if self._mover is not None:
            await asyncio.wait([self._mover])  # never swallows a cancellation of the caller

    async def _rebalance(self, allocation: Allocation) -> None:
        """Move modules to where ``allocation`` wants them, safely.

        A gun losing a module already has its lower allowance
        (:meth:`allocate`); the module is taken out of its group (its
        current goes to the others), switched off, and moved only once the
        pool sees it off with ~0 A. A refused move is retried on a later cycle.
        """
        pool = self.pool
        wanted: dict[ModuleId, str | None] = dict.fromkeys(pool.reach)
        for gun_id, modules in allocation.modules.items():
            for module in modules:
                wanted[module] = gun_id
        # A gun in its safe-down keeps its modules: they measure its output
        # until the discharge is verified.
        for module, holder in pool.assigned.items():
            if holder is not None and self._guns[holder].holds_modules:
                wanted[module] = holder
        leaving = [a for a, g in wanted.items() if pool.gun_of(a) not in (None, g)]
        for module in leaving:
            left = pool.detach(module)
            if left is not None:
                self._guns[left].refresh_output()
        if leaving:
            self.power.off(leaving)
            await self.power.wait_off(leaving, OFF_TIMEOUT)
        to_move = [
            (a, g) for a, g in wanted.items() if pool.gun_of(a) != g or pool.matrix.gun_of(a) != g
        ]
        await asyncio.gather(*(self._move(a, g) for a, g in to_move))

    async def _move(self, module: ModuleId, gun_id: str | None) -> None:
        try:
            await self.pool.move(module, gun_id)
        except PoolError as exc:
            self.refused_moves += 1
            log.debug("move refused: %s", exc)
            return
        self.moves += 1
        if gun_id is not None:
            self._guns[gun_id].refresh_output()
