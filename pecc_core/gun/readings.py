"""How fresh a gun's measurements are: what :mod:`~pecc_core.gun.voltage` keeps between cycles."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Readings:
    """How fresh a gun's measurements are, and the supervision's timers.

    :param modules_fresh: some module of the gun was heard within the stale bound.
    :param module_voltage: the modules' newest voltage reading (None: stale).
    :param module_read_at: the loop time it was read.
    :param voltage_known: the output voltage is known (connector sensor or fresh modules).
    :param over_voltage_since: loop time since when the output is at or above the EV's maximum.
    :param implausible_since: the time of the first module reading, of those since, that
        disagrees with the connector sensor.
    """

    modules_fresh: bool = True
    module_voltage: float | None = None
    module_read_at: float = 0.0
    voltage_known: bool = True
    over_voltage_since: float | None = None
    implausible_since: float | None = None
