"""A simulated power stage for PECC: the template of a vendor driver plugin.

Each configured module is a current-limited voltage source: its output
voltage slews toward the setpoint, and its current ramps toward the current
limit while it exports (a battery on the output takes what the limit
allows) and back to 0 when it is switched off. The state is advanced by a
small task on the event loop, as a real driver's bus poll would update it.
A real driver does the same bookkeeping but learns ``voltage``/``current``
from the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from marshmallow import Schema, fields, validate

from pecc_core import hookimpl
from pecc_core.asyncutil import poll_until
from pecc_core.power import Mode, ModuleListener, ModuleState
from pecc_core.profile.model import ModuleConfig

if TYPE_CHECKING:
    from pecc_core.hookspecs import PowerDriverFactory, Register

#: How often the simulated outputs are advanced (s).
TICK_S = 0.01
#: Below this current a module may be switched off its gun (A).
OFF_CURRENT_A = 1.0


class StageParams(Schema):
    """Params of ``example-stage``: an optional voltage cap and the output dynamics."""

    voltage_max = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0))
    slew_v_per_s = fields.Float(load_default=2000.0, validate=validate.Range(min=1))
    ramp_a_per_s = fields.Float(load_default=500.0, validate=validate.Range(min=1))


class StageDriver:
    """Modules with a simple, believable output: slewed voltage, ramped current."""

    def __init__(self, params: dict[str, Any], modules: Sequence[ModuleConfig]) -> None:
        cap = params["voltage_max"]
        self.modules = {
            m.address: ModuleState(
                m.address,
                m.voltage_min,
                min(m.voltage_max, cap) if cap is not None else m.voltage_max,
                m.current_max,
                m.power_max,
                bus=m.bus,
            )
            for m in modules
        }
        self.bus_ok = False
        self._slew = params["slew_v_per_s"] * TICK_S
        self._ramp = params["ramp_a_per_s"] * TICK_S
        self._listeners: list[ModuleListener] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.bus_ok = True
        self._task = asyncio.create_task(self._run(), name="example-stage")
        now = asyncio.get_running_loop().time()
        for module in self.modules.values():
            module.online = True
            module.last_seen = now
            self._notify(module)

    async def stop(self) -> None:
        self.off(list(self.modules))
        await self.wait_off(list(self.modules), 1.0)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.bus_ok = False

    def export(
        self, addresses: Sequence[int], voltage: float, current: float, voltage_max: float | None = None
    ) -> None:
        # voltage_max (the session's most) matters to modules with voltage ranges; these have none
        usable = [self.modules[a] for a in addresses if self.modules[a].usable]
        share = current / len(usable) if usable else 0.0
        for module in usable:
            module.mode = Mode.EXPORT
            module.voltage_setpoint = min(voltage, module.voltage_max)
            limit = module.power_max / voltage if voltage > 0 else module.current_max
            module.current_setpoint = min(share, module.current_max, limit)

    def off(self, addresses: Sequence[int]) -> None:
        for address in addresses:
            module = self.modules[address]
            module.mode = Mode.OFF
            module.voltage_setpoint = module.current_setpoint = 0.0

    async def wait_off(self, addresses: Sequence[int], timeout: float) -> bool:
        modules = [self.modules[a] for a in addresses]
        return await poll_until(lambda: all(m.current < OFF_CURRENT_A for m in modules), timeout, TICK_S)

    def add_listener(self, listener: ModuleListener) -> None:
        self._listeners.append(listener)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TICK_S)
            now = loop.time()
            for module in self.modules.values():
                module.last_seen = now  # a fresh reading (the core ignores stale ones)
                module.voltage = _toward(module.voltage, module.voltage_setpoint, self._slew)
                exporting = module.mode is Mode.EXPORT
                module.current = _toward(module.current, module.current_setpoint if exporting else 0.0, self._ramp)

    def _notify(self, module: ModuleState) -> None:
        for listener in self._listeners:
            listener(module)


def _toward(value: float, target: float, step: float) -> float:
    return min(value + step, target) if value < target else max(value - step, target)


@hookimpl
def pecc_register_power_drivers(register: Register[PowerDriverFactory]) -> None:
    register("example-stage", StageDriver, params=StageParams, summary="simulated power stage, no hardware (example)")
