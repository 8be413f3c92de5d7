"""What a gun's output voltage is, how fresh, and its supervision (IEC 61851-23:2023 6.3.1.106, 6.3.1.112).

The measured voltage is the voltage *at the connector*: a connector-side
sensor (``io.connector``) when the cabinet has one, else the highest
reading of the gun's modules. Readings age: a module not heard from for
``safety.reading_stale_ms`` (of on-time loop time: :mod:`pecc_core.stalls`)
does not count, and with no fresh source the
voltage is *unknown* (:attr:`~pecc_core.gun.readings.Readings.voltage_known` False): the last value
stays in the status, is never taken as below 60 V, and the gun says so.

Supervision, checked every control cycle:

- emergency over-voltage (Table 103, from min(EV max, gun max)) →
  emergency shutdown at once, latched;
- error over-voltage: at or above the EV's maximum for
  ``safety.error_over_voltage_ms`` in preCharge or charge → normal
  shutdown, latched;
- voltage to PE (where the IMD reports L+/PE, L-/PE) → emergency;
- plausibility between the modules and the connector sensor while the
  modules conduct → fault.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.gun.table import GunState
from pecc_core.power import Mode

if TYPE_CHECKING:
    from pecc_core.gun.readings import Readings
    from pecc_core.gun.view import GunView

#: The states in which the error over-voltage is watched: power flows to the car.
POWER_FLOWS = frozenset({GunState.PRECHARGE, GunState.CHARGE})
#: Table 103: (negotiated voltage above, emergency limit), highest first;
#: at or below 500 V the limit is 550 V. Above 1000 V: the draft's 1375 V.
EMERGENCY_TABLE = ((1000.0, 1375.0), (850.0, 1100.0), (750.0, 935.0), (500.0, 825.0))
EMERGENCY_DEFAULT = 550.0
#: 6.3.1.112.2: chargers rated above this keep each pole's voltage to PE
#: below 110 % of the output voltage, the others below 550 V.
PE_RATED_ABOVE = 500.0
#: A module conducts above this current (A): only then must it agree with the connector.
CONDUCTING = 1.0
#: Two sources must disagree over module readings this far apart before it is a fault (s):
#: a step of the output moves them apart briefly.
PLAUSIBILITY_S = 1.0


def emergency_limit(ev_max: float | None, gun_max: float) -> float:
    """Table 103's emergency over-voltage limit for ``min(ev_max, gun_max)``."""
    negotiated = gun_max if ev_max is None else min(ev_max, gun_max)
    for above, limit in EMERGENCY_TABLE:
        if negotiated > above:
            return limit
    return EMERGENCY_DEFAULT


def measure(gun: GunView, now: float) -> None:
    """Refresh the gun's measured values and whether its voltage is known."""
    wiring = gun.wiring
    readout = gun.readout
    readings = gun.readings
    pool = wiring.pool
    heard, read, read_at = pool.measure(gun.id, readout, pool.heard_after(now))
    readings.modules_fresh = heard
    readings.module_voltage = read
    readings.module_read_at = read_at
    connector = wiring.io.connector
    at_connector = connector.voltage(gun.id) if connector is not None else None
    if at_connector is not None:
        readout.measured_voltage = at_connector
        readings.voltage_known = True
    else:
        readings.voltage_known = heard
    if readings.voltage_known == ("stale" in gun.notices):
        gun.fault_monitor.notice("stale", not readings.voltage_known, "measured voltage unknown: readings are stale")


def supervise(gun: GunView, now: float) -> None:
    """The voltage supervision conditions (see the module docstring)."""
    if not gun.readings.voltage_known:
        return
    volts = gun.readout.measured_voltage
    ev_max = gun.ev.ev_max_voltage_volts
    limit = emergency_limit(ev_max, gun.config.voltage_max)
    if volts >= limit and "emergency_over_voltage" not in gun.faults:
        gun.fault_monitor.condition("emergency_over_voltage", True,
                         f"emergency over-voltage: measured {volts:.0f} V, limit {limit:.0f} V", emergency=True)
    _error_over_voltage(gun, gun.readings, now, volts, ev_max)
    _pe(gun, volts)
    _plausibility(gun)


def _error_over_voltage(gun: GunView, readings: Readings, now: float, volts: float, ev_max: float | None) -> None:
    """While power flows to the car (the cable check tests above the EV's maximum by design)."""
    if ev_max is None or volts < ev_max or gun.state not in POWER_FLOWS:
        readings.over_voltage_since = None
        return
    if readings.over_voltage_since is None:
        readings.over_voltage_since = now
    held = now - readings.over_voltage_since
    if held >= gun.safety.error_over_voltage_ms / 1000 and "over_voltage" not in gun.faults:
        gun.fault_monitor.condition("over_voltage", True,
                         f"over-voltage: measured {volts:.0f} V, limit {ev_max:.0f} V (the EV's maximum) "
                         f"for {held * 1000:.0f} ms")


def _pe(gun: GunView, volts: float) -> None:
    sample = gun.wiring.io.imd.sample(gun.id)
    if sample is None or (sample.plus_pe is None and sample.minus_pe is None):
        return
    limit = 1.1 * volts if gun.config.voltage_max > PE_RATED_ABOVE else 550.0
    pole = max(abs(sample.plus_pe or 0.0), abs(sample.minus_pe or 0.0))
    active = pole > max(limit, SAFE_FLOOR)
    if active != ("pe_voltage" in gun.faults):
        gun.fault_monitor.condition("pe_voltage", active,
                         f"voltage to PE {pole:.0f} V above {limit:.0f} V", emergency=True)


#: Below this a pole's voltage to PE is never a fault (the output itself may read ~0 V).
SAFE_FLOOR = 60.0


def _plausibility(gun: GunView) -> None:
    readings = gun.readings
    module_volts = readings.module_voltage
    connector = gun.wiring.io.connector
    at_connector = connector.voltage(gun.id) if connector is not None else None
    modules = gun.wiring.power.modules
    conducting = any(
        modules[a].mode is Mode.EXPORT and modules[a].current >= CONDUCTING for a in gun.modules()
    )
    apart = (
        module_volts is not None
        and at_connector is not None
        and conducting
        and abs(module_volts - at_connector) > gun.safety.plausibility_v
    )
    # Judged on the modules' readings, not on the clock: on a busy bus a module's voltage
    # may be read seconds apart (within the stale bound), and one reading taken while the
    # output was still rising must not count as a disagreement that lasted.
    if not apart:
        readings.implausible_since = None
    elif readings.implausible_since is None:
        readings.implausible_since = readings.module_read_at
    since = readings.implausible_since
    active = since is not None and readings.module_read_at - since >= PLAUSIBILITY_S
    if active != ("plausibility" in gun.faults):
        gun.fault_monitor.condition("plausibility", active,
                         f"voltage sources disagree: modules {module_volts or 0:.0f} V, "
                         f"connector {at_connector or 0:.0f} V")
