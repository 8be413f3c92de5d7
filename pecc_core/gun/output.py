"""What a gun drives: its setpoint held to every limit, the up-ramp, and the power driver call.

:class:`Output` is the gun's part that owns what it drives: the setpoint
asked for, the up-ramp's level and whether the power cap binds, written
here alone (the gun, its demand and the control cycle read them).
:meth:`Output.drive` is the one place a setpoint reaches the modules
(:meth:`Gun.drive <pecc_core.gun.machine.Gun.drive>` calls it). Safety
rules kept here:

- no power unless the contactors are commanded closed *and* their
  feedback says closed;
- the setpoint is within :func:`~pecc_core.gun.limits.effective_limits`,
  the power cap counted at the present measured voltage; during the cable
  check the car's limits do not count (Formula CC.1 tests above the EV's
  maximum) but the gun's and the modules' do;
- rising current follows the up-ramp (:class:`~pecc_core.gun.ramp.Ramp`),
  falling current applies at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pecc_core.gun.limits import effective_limits, power_voltage, setpoint_current
from pecc_core.gun.table import GunState
from pecc_core.model import EvSession

if TYPE_CHECKING:
    from pecc_core.gun.machine import Gun
    from pecc_core.gun.ramp import Ramp
    from pecc_core.model import Limits

#: The power cap counts as binding (re-driven every cycle as the voltage moves) from this share of it.
BINDING = 0.999


class Output:
    """A gun's setpoint, its up-ramp and whether the power cap binds: driven and kept here alone."""

    __slots__ = ("_power_bound", "_ramp", "_setpoint")

    def __init__(self, ramp: Ramp) -> None:
        self._ramp = ramp
        self._setpoint = (0.0, 0.0)
        self._power_bound = False

    @property
    def setpoint(self) -> tuple[float, float]:
        """The requested voltage being driven (V) and current before clamping (A)."""
        return self._setpoint

    @property
    def power_bound(self) -> bool:
        """True while the power cap at the present voltage sets the current (re-driven every cycle)."""
        return self._power_bound

    @property
    def rising(self) -> bool:
        """True while the up-ramp is below the current wanted (the control cycle re-drives it)."""
        return self._ramp.rising

    def drive(self, gun: Gun, voltage: float, current: float, limits: Limits | None) -> None:
        """Send ``voltage`` / ``current`` to ``gun``'s modules now, held to every limit (module docstring)."""
        wiring = gun.wiring
        self._setpoint = (voltage, current)
        readout = gun.readout
        closed = gun.contactors.commanded_closed and wiring.io.contactors.closed(gun.id)
        self._power_bound = False
        if closed and voltage > 0.0:  # a current without a voltage drives nothing
            if gun.state is GunState.CABLE_CHECK:
                limits = effective_limits(gun.ratings, wiring.pool.supply(gun.id), EvSession(), None)
            elif limits is None:
                limits = gun.limits()
            voltage = min(voltage, limits.voltage_max)
            present = readout.measured_voltage if gun.readings.voltage_known else None
            current = setpoint_current(limits, voltage, current, present)
            self._power_bound = current * power_voltage(voltage, present) >= limits.power_max * BINDING
            current = self._ramp.limit(current, asyncio.get_running_loop().time())
        else:
            voltage = current = 0.0
            self._ramp.limit(0.0, 0.0)
        readout.driven_voltage, readout.driven_current = voltage, current
        modules = wiring.pool.modules_of(gun.id)
        if not modules:
            return
        if voltage > 0.0 and limits is not None:  # limits: computed whenever a voltage is driven
            wiring.driver.export(modules, voltage, current, voltage_max=limits.voltage_max)
        else:
            wiring.driver.off(modules)
