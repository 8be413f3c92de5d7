"""A gun: its state machine (:mod:`.machine`, :mod:`.table`) and its jobs beside it.

=====================  ==========================================================
:mod:`.table`          states, events and the transition table
:mod:`.machine`        :class:`Gun`: SECC requests, transitions, setpoints
:mod:`.wiring`         what a gun is connected to (pool, drivers, observers …)
:mod:`.contactors`     closing and opening the output contactors
:mod:`.faults`         the fault monitor and the conditions checked every cycle
:mod:`.cable_check`    the isolation test before a session (IEC 61851-23 CC.4.1)
:mod:`.safe_down`      every way out of a session to a verified safe output
:mod:`.demand`         what the gun asks of the power allocation
:mod:`.limits`         the gun's effective limits and the setpoint arithmetic
:mod:`.output`         the setpoint held to the limits, the up-ramp, the driver call
:mod:`.ramp`           the current up-ramp
:mod:`.voltage`        measurement freshness and voltage supervision
=====================  ==========================================================
"""

from pecc_core.gun.machine import Gun
from pecc_core.gun.table import TABLE, TRANSITIONS, Event, GunState, Outcome
from pecc_core.gun.wiring import Observers, Wiring

__all__ = ["TABLE", "TRANSITIONS", "Event", "Gun", "GunState", "Observers", "Outcome", "Wiring"]
