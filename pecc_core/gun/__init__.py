"""A gun: its state machine (:mod:`.machine`, :mod:`.table`) and its jobs beside it.

=====================  ==========================================================
:mod:`.table`          states, events and the transition table
:mod:`.machine`        :class:`Gun`: SECC requests, transitions, setpoints
:mod:`.wiring`         what a gun is connected to (pool, drivers, timings …)
:mod:`.view`           the gun as its sequences see it (``GunView``)
:mod:`.contactors`     the contactors part: commanded, switching, the feedback
:mod:`.faults`         the fault monitor: the conditions a gun has, latched
:mod:`.checks`         the conditions tested every cycle
:mod:`.cable_check`    the isolation test before a session (IEC 61851-23 CC.4.1)
:mod:`.last_check`     what the last cable check did
:mod:`.safe_down`      every way out of a session to a verified safe output
:mod:`.work`           the gun's one sequence at a time and its kept tasks
:mod:`.demand`         what the gun asks of the power allocation
:mod:`.limits`         the gun's effective limits and the setpoint arithmetic
:mod:`.output`         the setpoint held to the limits, the up-ramp
:mod:`.ramp`           the current up-ramp
:mod:`.readings`       how fresh the measurements are
:mod:`.voltage`        measurement and voltage supervision
=====================  ==========================================================
"""

from pecc_core.gun.faults import FaultChange
from pecc_core.gun.machine import Gun, Observers
from pecc_core.gun.table import TABLE, TRANSITIONS, Event, GunState, Outcome
from pecc_core.gun.wiring import Wiring

__all__ = ["TABLE", "TRANSITIONS", "Event", "FaultChange", "Gun", "GunState", "Observers", "Outcome", "Wiring"]
