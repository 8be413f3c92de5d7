"""An ideal power supply for PECC: the template of a vendor driver plugin.

Each configured module is "online" once started and its output follows the
setpoint at once, limited by its ratings. A real driver does the same
bookkeeping but learns ``voltage``/``current`` from the bus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from marshmallow import Schema, fields, validate

from pecc_core import hookimpl
from pecc_core.power import Mode, ModuleListener, ModuleState
from pecc_core.profile.model import ModuleConfig


class IdealParams(Schema):
    """Params of ``example-ideal``: an optional voltage cap below the module ratings."""

    voltage_max = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0))


class IdealDriver:
    """Modules that do exactly what they are told, instantly."""

    def __init__(self, params: dict[str, Any], modules: Sequence[ModuleConfig]) -> None:
        cap = params["voltage_max"]
        self.modules = {
            m.address: ModuleState(
                m.address,
                m.voltage_min,
                min(m.voltage_max, cap) if cap is not None else m.voltage_max,
                m.current_max,
                m.power_max,
            )
            for m in modules
        }
        self.bus_ok = False
        self._listeners: list[ModuleListener] = []

    async def start(self) -> None:
        self.bus_ok = True
        for module in self.modules.values():
            module.online = True
            self._notify(module)

    async def stop(self) -> None:
        self.off(list(self.modules))
        self.bus_ok = False

    def export(
        self, addresses: Sequence[int], voltage: float, current: float, voltage_max: float | None = None
    ) -> None:
        # voltage_max (the session's most) matters to modules with voltage ranges; these have none
        usable = [self.modules[a] for a in addresses if self.modules[a].usable]
        share = current / len(usable) if usable else 0.0
        for module in usable:
            module.mode = Mode.EXPORT
            module.voltage_setpoint = module.voltage = min(voltage, module.voltage_max)
            limit = module.power_max / voltage if voltage > 0 else module.current_max
            module.current_setpoint = min(share, module.current_max, limit)

    def off(self, addresses: Sequence[int]) -> None:
        for address in addresses:
            module = self.modules[address]
            module.mode = Mode.OFF
            module.voltage_setpoint = module.current_setpoint = 0.0
            module.voltage = module.current = 0.0

    async def wait_off(self, addresses: Sequence[int], timeout: float) -> bool:
        return all(self.modules[a].current < 1.0 for a in addresses)

    def add_listener(self, listener: ModuleListener) -> None:
        self._listeners.append(listener)

    def _notify(self, module: ModuleState) -> None:
        for listener in self._listeners:
            listener(module)


@hookimpl
def pecc_register_power_drivers(register: Any) -> None:
    register("example-ideal", IdealDriver, params=IdealParams, summary="ideal modules, no hardware (example)")
