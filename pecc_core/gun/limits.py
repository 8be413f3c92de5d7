"""A gun's effective limits: gun ratings ∩ its modules ∩ the car ∩ the allocation.

The one definition of :class:`pecc_core.model.Limits`: the limits the gun
offers the car, every setpoint and the policies' demands are computed by
:func:`effective_limits`, and :func:`setpoint_current` holds a requested
setpoint to them. Pure arithmetic, no state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.errors import ValueRefused
from pecc_core.model import Limits

if TYPE_CHECKING:
    from pecc_core.model import EvSession
    from pecc_core.pool import Supply
    from pecc_core.profile.model import GunConfig

#: Touch-voltage limit: standby needs the measured output below this (V).
SAFE_VOLTAGE = 60.0
#: The current a power cap allows is computed at the present voltage, but
#: never at less than this share of the target voltage (no division by a
#: small number while the output is still rising).
PRESENT_VOLTAGE_FLOOR = 0.5


def _least(value: float, *caps: float | None) -> float:
    for cap in caps:
        if cap is not None and cap < value:
            value = cap
    return value


def effective_limits(
    gun: GunConfig, hardware: Supply, ev: EvSession, allowance: float | None
) -> Limits:
    """A gun's limits now: gun config ∩ its modules ∩ the car ∩ the allocation's power allowance.

    Pure, so that the configuration response, every setpoint and the
    policies compute the very same thing. The car's values count once the
    SECC has sent them (chargingSession); ``allowance`` is the allocation's power allowance
    (None before the first allocation). Minimums never exceed maximums.
    """
    voltage_max = _least(min(gun.voltage_max, hardware.voltage_max), ev.ev_max_voltage_volts)
    current_max = _least(min(gun.current_max, hardware.current_max), ev.ev_max_current_amperes)
    power_max = _least(
        min(gun.power_max, hardware.power_max),
        ev.ev_max_power_watts,
        ev.charging_profile_max_power_limit_watts,
        allowance,
    )
    voltage_max = max(voltage_max, 0.0)
    current_max = max(current_max, 0.0)
    power_max = max(power_max, 0.0)
    discharge = (
        {
            "discharge_current_min": 0.0,
            "discharge_current_max": -current_max,
            "discharge_power_min": 0.0,
            "discharge_power_max": -power_max,
        }
        if gun.bidirectional
        else {}
    )
    return Limits(
        voltage_min=min(max(gun.voltage_min, hardware.voltage_min), voltage_max),
        voltage_max=voltage_max,
        current_min=min(gun.current_min, current_max),
        current_max=current_max,
        power_min=0.0,
        power_max=power_max,
        **discharge,
    )


def power_voltage(voltage: float, present: float | None) -> float:
    """The voltage a power cap is divided by: the present one, bounded below (see :data:`PRESENT_VOLTAGE_FLOOR`).

    Without a known present voltage, the target: a battery below the target
    then gets less than the cap, never more.
    """
    if present is None:
        return voltage
    return max(present, PRESENT_VOLTAGE_FLOOR * voltage)


def setpoint_current(limits: Limits, voltage: float, current: float, present: float | None = None) -> float:
    """The current to drive for a requested ``voltage`` and ``current`` within ``limits``.

    A voltage above the limit is refused (:class:`ValueRefused`): the SECC
    must not get a different voltage than it asked for. A current above
    what is available is not an error: the most the current and power
    limits allow is driven instead (degraded). The power limit counts at
    the ``present`` measured voltage (:func:`power_voltage`): an EV asking
    for its maximum voltage while its battery sits lower gets the power
    it is allowed.
    """
    if voltage > limits.voltage_max:
        raise ValueRefused(
            f"target voltage {voltage:g} V is above the limit {limits.voltage_max:g} V"
        )
    if voltage > 0.0:
        current = min(current, limits.power_max / power_voltage(voltage, present))
    return max(0.0, min(current, limits.current_max))
