"""What a gun drives: its setpoint held to the limits, and the up-ramp.

:class:`Output` is the gun's part that owns what it drives: the setpoint
asked for, the up-ramp's level and whether the power cap binds, written
here alone (the gun, its demand and the control cycle read them).
:meth:`Output.drive` turns a setpoint into what may reach the modules;
:meth:`Gun.drive <pecc_core.gun.machine.Gun.drive>` gives it the limits
(none while the contactors are not closed) and sends the result. Safety
rules kept here:

- no power without limits (the contactors commanded closed *and* their
  feedback closed);
- the setpoint is within those limits, the power cap counted at the
  present measured voltage;
- rising current follows the up-ramp (:class:`~pecc_core.gun.ramp.Ramp`),
  falling current applies at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from pecc_core.gun.limits import power_voltage, setpoint_current

if TYPE_CHECKING:
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

    def drive(
        self, voltage: float, current: float, limits: Limits | None, present: float | None, cycle: bool = False
    ) -> tuple[float, float]:
        """What may reach the modules for the setpoint ``voltage`` / ``current`` (kept as asked).

        ``limits``: every limit in force; None when nothing may flow (the
        contactors are not closed). ``present``: the measured output
        voltage the power cap counts at (None: unknown, the target counts).
        ``cycle``: the control cycle's drive, which climbs the up-ramp
        (:meth:`Ramp.limit <pecc_core.gun.ramp.Ramp.limit>`).
        """
        self._setpoint = (voltage, current)
        self._power_bound = False
        if limits is None or voltage <= 0.0:  # a current without a voltage drives nothing
            self._ramp.limit(0.0, 0.0)
            return 0.0, 0.0
        voltage = min(voltage, limits.voltage_max)
        current = setpoint_current(limits, voltage, current, present)
        self._power_bound = current * power_voltage(voltage, present) >= limits.power_max * BINDING
        return voltage, self._ramp.limit(current, asyncio.get_running_loop().time(), cycle)
