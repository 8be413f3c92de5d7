"""One gun: what a transport calls, what it reports, and how it takes a transition.

The transport maps each SECC request to one method here and each refusal
(:mod:`pecc_core.errors`) to a protocol error; it reads :meth:`Gun.report`
for every status message. Every transition goes through the one table
(:mod:`pecc_core.gun.table`), is logged with the gun id and the reason,
finishes its safety actions (setpoint, safe-down) and only then is
reported to the observers, synchronously: an observer that raises is
logged (by the plugin manager, which calls each one on its own) and
cannot undo or skip a safety action.

The gun's other jobs live next to it: fault monitoring
(:mod:`~pecc_core.gun.faults`: its :class:`~pecc_core.gun.faults.FaultMonitor`
owns the faults and notices and tells the gun of each change, and the gun
takes the transition and the safe-down), the contactors
(:mod:`~pecc_core.gun.contactors`: its :class:`~pecc_core.gun.contactors.Contactors`
owns what they were commanded), the cable check
(:mod:`~pecc_core.gun.cable_check`), the safe-down
(:mod:`~pecc_core.gun.safe_down`), its demand for the allocation
(:mod:`~pecc_core.gun.demand`), its limits (:mod:`~pecc_core.gun.limits`)
and its background work (:mod:`~pecc_core.gun.work`).

Safety rules this class keeps on every path:

- power (a voltage or current setpoint above 0) is driven only while the
  contactors are commanded closed and their feedback says closed;
- every setpoint is within :func:`~pecc_core.gun.limits.effective_limits`
  (gun ∩ modules ∩ car ∩ allocation);
- leaving a session always goes through the safe-down: outputs 0, wait
  for the modules' current to fall (bounded), open the contactors, wait
  for the output to discharge under 60 V (bounded), stop the IMD.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import KeysView, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pecc_core.errors import InoperativeRefused, InternalRefused, SeccNotConnected
from pecc_core.gun import cable_check, checks, safe_down
from pecc_core.gun.contactors import Contactors
from pecc_core.gun.demand import build_demand
from pecc_core.gun.faults import FaultChange, FaultMonitor
from pecc_core.gun.last_check import LastCheck
from pecc_core.gun.limits import SAFE_VOLTAGE, effective_limits, setpoint_current
from pecc_core.gun.output import Output
from pecc_core.gun.ramp import Ramp
from pecc_core.gun.readings import Readings
from pecc_core.gun.table import (
    ACTIVE_STATES,
    IGNORED,
    INOPERATIVE_STATES,
    ISOLATION_OK,
    PHASE_EVENT,
    TRANSITIONS,
    Event,
    GunState,
    Outcome,
)
from pecc_core.gun.work import Work
from pecc_core.io import ContactorError
from pecc_core.model import (
    EvConnection,
    EvSession,
    Isolation,
    Limits,
    Operational,
    OperatorCaps,
    Phase,
    Status,
    Target,
)

if TYPE_CHECKING:
    from pecc_core.gun.wiring import Wiring
    from pecc_core.policy import GunDemand
    from pecc_core.power import ModuleId
    from pecc_core.profile.model import GunConfig
    from pecc_core.transport import SeccLink

log = logging.getLogger(__name__)

S, E = GunState, Event


class Observers(Protocol):
    """Who is told about transitions and faults (the plugin manager's observer hooks).

    Called right after the safety work and never raises: the plugin
    manager calls each implementation on its own and logs its exception.
    """

    def gun_state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None: ...

    def gun_fault(self, gun: Gun, change: FaultChange) -> None: ...


class Gun:
    """A gun: its configuration, its SECC link, what the car said, its state."""

    def __init__(self, config: GunConfig, wiring: Wiring, observers: Observers) -> None:
        self.config = config
        self.wiring = wiring
        #: Told after every transition and fault change (the plugin manager).
        self.observers = observers
        #: The operator's run-time caps (control API); :attr:`ratings` applies them.
        self.caps = OperatorCaps()
        #: ``config`` lowered to the operator's caps: what every limit is computed from.
        self.ratings = config
        #: The allocation's power allowance (W); 0 until the policy gives power.
        self.allowance = 0.0
        self.id = config.id
        self.path = config.path
        self.secc: SeccLink | None = None
        self.ev_connection = EvConnection.DISCONNECTED
        self.vehicle_id: str | None = None
        self.ev = EvSession()
        #: The last accepted targetValues (None outside a session); simulators
        #: and policies read it, only the state machine writes it.
        self.target: Target | None = None
        self.state = GunState.STANDBY
        #: The gun's fault conditions and notices: their only writer (:mod:`.faults`).
        self.fault_monitor = FaultMonitor(self.id, self._fault_changed, self._noticed)
        #: What the gun reports now (the values of the next status message):
        #: measured and driven values, contactors, isolation, operational.
        self.readout = Status()
        #: What the contactors were last commanded and whether a command is in progress (:mod:`.contactors`).
        self.contactors = Contactors(self.id, wiring.io.contactors, self.readout)
        #: Loop time when the gun last became active (first-come order).
        self.active_since = 0.0
        self._closing: str | None = None
        #: The cable check or safe-down running, and the short tasks kept (:mod:`.work`).
        self.work = Work(self.id, self._safe_down)
        self._demand: GunDemand | None = None
        #: The cable check, supervision and shutdown settings (the profile's ``[safety]``).
        self.safety = wiring.safety
        #: What the gun drives: the setpoint, the up-ramp every setpoint passes
        #: (falling current at once) and whether the power cap binds (:mod:`.output`).
        self.output = Output(Ramp(wiring.safety.ramp_a_per_s, wiring.cycle))
        #: How fresh and trustworthy the measurements are; the supervision's timers (:mod:`.readings`).
        self.readings = Readings()
        #: The last cable check (its figures) and the IMD sample it ended on (:mod:`.last_check`).
        self.last_check = LastCheck()
        self._starved = False

    def __repr__(self) -> str:
        return f"<Gun {self.id} {self.state}>"

    # -- what the transport reads -------------------------------------------

    def report(self) -> Status:
        """What the gun reports now (the gun's own :attr:`readout`: do not keep it)."""
        return self.readout

    def offered_limits(self) -> Limits:
        """The limits the gun offers the car now.

        A gun in a session offers what its modules and allocation give; an
        idle one what its modules give, or, if none can deliver current now
        (none switched onto it, or only failed ones the policy will replace),
        what it could get from the modules it can reach: a car takes the
        offer of its first ``configuration`` for its whole session, and an
        offer of 0 A made between two sessions would leave it waiting for a
        current it never asks for. Nor more power than the site's cap (the
        station's, or a coordinator's share): no allocation can give more.
        """
        if self.state in ACTIVE_STATES:
            return self.limits()
        pool = self.wiring.pool
        hardware = pool.supply(self.id)
        if hardware.current_max <= 0.0:
            hardware = pool.potential(self.id)
        return effective_limits(self.ratings, hardware, self.ev, pool.view.site_power_max)

    def limits(self) -> Limits:
        """The limits every setpoint is held to now (modules, car and allocation)."""
        return effective_limits(self.ratings, self.wiring.pool.supply(self.id), self.ev, self.allowance)

    def modules(self) -> tuple[ModuleId, ...]:
        """The modules switched onto this gun (bus and address each)."""
        return self.wiring.pool.modules_of(self.id)

    # -- SECC requests --------------------------------------------------------

    async def cable_check(self, voltage: float) -> None:
        """Start the isolation test (:mod:`.cable_check`); the result comes in the readout.

        ``voltage`` is the SECC's suggestion: the test voltage is Formula CC.1's.
        """
        if self.closing is not None:
            raise InoperativeRefused(f"gun {self.id}: {self.closing}: no new session")
        outcome = self._outcome(E.CABLE_CHECK)
        if outcome is IGNORED:
            return
        test_voltage = cable_check.test_voltage_of(self, voltage)
        if self.safety.imd_self_test == "after_close":
            await self._close_contactors()
        elif not self.wiring.io.supervision.allowed(self.id):
            raise InternalRefused(f"gun {self.id}: CP/PP supervision does not allow closing the contactors")
        self.readout.isolation = Isolation.INVALID
        self.go(E.CABLE_CHECK, f"cableCheck at {test_voltage:g} V (suggested {voltage:g} V)")
        self.work.start(self._cable_check(test_voltage, voltage), "cable-check")

    async def target_values(self, target: Target) -> None:
        """Drive the output as the SECC asks, within every limit.

        The limits are computed once; a voltage above them is refused
        before anything changes.
        """
        event = PHASE_EVENT[target.phase]
        outcome = self._outcome(event)
        limits = self.limits()
        current = setpoint_current(limits, target.voltage, target.current)  # may refuse
        if outcome is IGNORED or self.readout.isolation not in ISOLATION_OK:
            log.debug("gun %s: %s ignored in %s", self.id, event, self.state)
            return
        self.target = target
        self._demand = None
        if target.phase is Phase.PRECHARGE:
            self._drive(target.voltage, self.config.precharge_current, limits)
        elif target.phase is Phase.CHARGE:
            self._drive(target.voltage, target.current, limits)
        else:
            self.drive(0.0, 0.0)
        if outcome is not self.state:
            self.go(event, f"{target.voltage:g} V / {target.current:g} A (driving {current:g} A)")

    async def set_contactors(self, closed: bool) -> None:
        """Close or open the output contactors."""
        event = E.CLOSE if closed else E.OPEN
        outcome = self._outcome(event)
        if outcome is IGNORED:
            return
        if closed:
            await self._close_contactors()
            self.go(E.CLOSE, "contactorsStatus closed")
        else:
            self.go(E.OPEN, "contactorsStatus open")
            await self.work.stop_and_reply()

    async def reset(self) -> None:
        """Go to standby: outputs 0, contactors open, modules released, operative."""
        self.fault_monitor.unlatch()  # a reset clears the latched faults (6.3.1.106)
        if self.state is S.INOPERATIVE and not self.faults:
            await self.work.stop_and_reply()  # faults cleared: already on its way to standby
            return
        outcome = self._outcome(E.RESET)
        self.readout.isolation = Isolation.INVALID
        self.target = None
        if outcome is S.STANDBY:
            self.drive(0.0, 0.0)
            self.wiring.io.imd.stop_monitoring(self.id)
            return
        if self.state is not S.STOPPING:
            self.go(E.RESET, "reset")
        await self.work.stop_and_reply()

    # -- SECC information -------------------------------------------------------

    def ev_connection_changed(self, state: EvConnection, vehicle_id: str | None) -> None:
        """evConnectionState: informational only, never a safety input."""
        self.ev_connection = state
        self.vehicle_id = vehicle_id if state is EvConnection.CONNECTED else self.vehicle_id
        if state is EvConnection.DISCONNECTED:
            self.vehicle_id = None
            self.ev.clear()
            self._demand = None
        log.info("gun %s: EV %s%s", self.id, state, f" ({vehicle_id})" if vehicle_id else "", extra={"gun": self.id})

    def ev_session_changed(self, changes: dict[str, Any]) -> None:
        """chargingSession: merge the changed fields (names in snake_case).

        A lower car limit applies to the present setpoint at once.
        """
        self.ev.merge(changes)
        self._demand = None
        self.refresh_output()

    # -- the SECC connection ----------------------------------------------------

    def secc_attached(self, link: SeccLink) -> None:
        """An SECC connected to this gun (replacing any previous one)."""
        self.secc = link

    def secc_detached(self, link: SeccLink, reason: str) -> None:
        """The SECC connection ``link`` is gone: to standby, no power without new requests."""
        if self.secc is not link:
            return
        self.secc = None
        self.target = None
        if (self.state, E.SECC_LOST) in TRANSITIONS:
            self.go(E.SECC_LOST, f"SECC detached ({reason})")

    def link(self) -> SeccLink:
        """The live SECC link; :class:`SeccNotConnected` without one."""
        if self.secc is None:
            raise SeccNotConnected(f"no SECC is connected to gun {self.id}")
        return self.secc

    # -- called by the station and the allocator -------------------------------------

    def demand(self) -> GunDemand:
        """What this gun wants, for the policy (rebuilt only when it changes)."""
        if self._demand is None:
            self._demand = build_demand(self)
        return self._demand

    def set_caps(self, caps: OperatorCaps) -> None:
        """New operator caps: they count for the policy and the setpoint at once."""
        self.caps = caps
        self.ratings = caps.apply(self.config)
        self._demand = None
        self.refresh_output()

    def set_allowance(self, power: float) -> None:
        """The allocation's power allowance for this gun (W); a lower one applies at once."""
        if power != self.allowance:
            self.allowance = power
            self.refresh_output()

    def set_starved(self, starved: bool) -> None:
        """The allocator's verdict: True while the gun wants power and can get no module at all."""
        self._starved = starved

    @property
    def starved(self) -> bool:
        """Whether the allocator last found the gun unable to get any module (see :meth:`set_starved`)."""
        return self._starved

    def close_for_new_sessions(self, why: str) -> None:
        """The station is stopping: refuse every new session (``cableCheck``) from now on, saying ``why``."""
        self._closing = why

    @property
    def closing(self) -> str | None:
        """Why no new session may start (the station is stopping); None: sessions welcome."""
        return self._closing

    def refresh_output(self, cycle: bool = False) -> None:
        """Re-apply the present setpoint to the gun's modules and limits now.

        ``cycle``: the control cycle's refresh, which climbs the up-ramp.
        """
        voltage, current = self.output.setpoint
        if voltage > 0.0 or current > 0.0:
            self._drive(voltage, current, None, cycle)

    def update(self) -> None:
        """One control cycle: measurements, contactor feedback, IMD and fault conditions."""
        checks.check(self)

    def check_modules(self) -> None:
        """A module changed: check this gun's module faults now (see :mod:`~pecc_core.gun.checks`)."""
        checks.check_modules(self)

    def fail(self, text: str) -> None:
        """Something went wrong outside the gun's own checks: fault, to a safe state."""
        self.fault_monitor.condition("internal", True, text)

    @property
    def faults(self) -> Mapping[str, str]:
        """Active fault conditions by kind, with their event text (the monitor's read-only view)."""
        return self.fault_monitor.faults

    @property
    def notices(self) -> KeysView[str]:
        """Notices given to the SECC that are not faults (e.g. ``stale``; the monitor's read-only view)."""
        return self.fault_monitor.notices

    def _fault_changed(self, change: FaultChange) -> None:
        """The monitor raised or cleared a condition: to a safe state, or back once none is left.

        Raised: an emergency one switches the DC off and opens the
        contactors at once, then the fault transition, then the SECC is
        told; cleared, the last one: standby only through a completed
        safe-down (it takes CLEARED). The observers are told last.
        """
        if change.raised:
            if change.emergency:
                safe_down.emergency(self, change.text)
            if (self.state, E.FAULT) in TRANSITIONS:
                self.go(E.FAULT, change.message)
            if self.secc is not None:
                self.secc.send_event(change.message)
        elif self.state is S.INOPERATIVE and not self.faults:
            self.work.safe_down()
        self.observers.gun_fault(self, change)

    def _noticed(self, message: str) -> None:
        """A notice (not a fault) the SECC should know of."""
        if self.secc is not None:
            self.secc.send_event(message)

    @property
    def holds_modules(self) -> bool:
        """True during the safe-down: its modules must stay to measure the discharge (see :mod:`.work`)."""
        return self.work.holds_modules

    @property
    def active(self) -> bool:
        """In a session (cable check to post-charge): its SECC leaving ends a charge."""
        return self.state in ACTIVE_STATES

    def output_safe(self) -> bool:
        """The output is known to be below 60 V (an unknown voltage never is)."""
        return self.readings.voltage_known and self.readout.measured_voltage < SAFE_VOLTAGE

    def in_standby(self) -> bool:
        """Standby, verified: state, driven 0, contactors open, output known under 60 V."""
        s = self.readout
        return (
            self.state is S.STANDBY
            and s.driven_voltage == 0.0
            and s.driven_current == 0.0
            and not self.wiring.io.contactors.closed(self.id)
            and self.output_safe()
        )

    async def shutdown(self) -> None:
        """Station stop: reach standby (or a safe inoperative state) whatever happens."""
        if self.state in ACTIVE_STATES:
            self.go(E.SHUTDOWN, "station stopping")
        await self.work.safe_down_then(safe_down.OFF_TIMEOUT + safe_down.DISCHARGE_TIMEOUT + 1.0)

    async def _close_contactors(self) -> None:
        """Close the contactors if they are open; CP/PP must allow it.

        The control loop runs while the contactors move: if the gun was
        taken down meanwhile (fault, SECC loss), the safe-down owns the
        contactors and the request is refused.
        """
        if self.contactors.closed:
            return
        if not self.wiring.io.supervision.allowed(self.id):
            raise InternalRefused(f"gun {self.id}: CP/PP supervision does not allow closing the contactors")
        count = self.readout.inoperative_count
        try:
            await self.contactors.switch(True)
        except ContactorError as exc:
            if count == self.readout.inoperative_count:
                # an emergency, as the cycle's check raises it: opened now, not by the safe-down later
                self.fault_monitor.condition("contactors", True, str(exc), emergency=True)
                raise InternalRefused(str(exc)) from None
        if count != self.readout.inoperative_count:
            if self.state not in INOPERATIVE_STATES:  # already back in standby: open again
                self.work.safe_down()
            raise InoperativeRefused(f"gun {self.id} was taken to standby while closing its contactors")

    async def _cable_check(self, voltage: float, suggestion: float) -> None:
        """The cable check as the gun's sequence: the gun takes its result's transition."""
        result = await cable_check.run(self, voltage, suggestion)
        if result is None:
            return
        if result.passed:
            self.go(E.TEST_PASSED, result.reason)
            return
        if self.secc is not None:
            self.secc.send_event(result.reason)
        self.go(E.TEST_FAILED, result.reason)

    async def _safe_down(self) -> None:
        """The safe-down as the gun's sequence: standby, or the end of a fault, only if it ran through."""
        if not await safe_down.run(self):
            self.fault_monitor.condition("internal", True, "safe-down failed (see the log)")
        elif self.state is S.STOPPING:
            self.go(E.SAFE, "outputs 0, contactors open, output discharged")
        elif self.state is S.INOPERATIVE and not self.faults:
            self.go(E.CLEARED, "fault cleared")

    # -- the machine -----------------------------------------------------------------

    def _outcome(self, event: Event) -> GunState | Outcome:
        """The table's answer to a request ``event`` now; raises its refusal."""
        outcome = TRANSITIONS[(self.state, event)]
        if isinstance(outcome, type):
            raise outcome(f"gun {self.id} is {self.state}: {event} not possible")
        return outcome

    def go(self, event: Event, reason: str) -> None:
        """Take the table's transition for ``event``: safety actions first, then the observers."""
        old = self.state
        new = TRANSITIONS[(old, event)]
        if not isinstance(new, GunState):  # a request's outcome: answered by _outcome, never taken
            raise RuntimeError(f"gun {self.id}: {event} in {old} is {new}, not a transition")
        self.state = new
        self._demand = None
        self.readout.operational = (
            Operational.INOPERATIVE if new in INOPERATIVE_STATES else Operational.OPERATIVE
        )
        if new in ACTIVE_STATES and old not in ACTIVE_STATES:
            self.active_since = asyncio.get_running_loop().time()
        log.info("gun %s: %s -> %s on %s: %s", self.id, old, new, event, reason, extra={"gun": self.id})
        if new in INOPERATIVE_STATES:
            self.readout.inoperative_count += 1
            self.drive(0.0, 0.0)
            self.target = None
            self.work.safe_down()
        elif new is S.STANDBY or new is S.READY:
            self.drive(0.0, 0.0)
        if new is S.STANDBY and self.readout.isolation in ISOLATION_OK:
            # a pass belongs to one session: never reused after it (a fault stays
            # reported until the next cable check or reset, so the SECC sees it)
            self.readout.isolation = Isolation.INVALID
        self.wiring.wake()
        if old != new:
            self.observers.gun_state_changed(self, old, new, event, reason)

    def drive(self, voltage: float, current: float) -> None:
        """Send the setpoint to the gun's modules now, held to every limit.

        No power without closed contactors (commanded and confirmed).
        """
        self._drive(voltage, current, None)

    def _drive(self, voltage: float, current: float, limits: Limits | None, cycle: bool = False) -> None:
        """:meth:`drive` with the limits already computed for this request (or None).

        ``cycle``: the control cycle's drive (see :meth:`refresh_output`).

        During the cable check the car's limits do not count (Formula CC.1
        tests above the EV's maximum), the gun's and the modules' do.
        """
        wiring = self.wiring
        if not self.contactors.closed or voltage <= 0.0:
            limits = None
        elif self.state is S.CABLE_CHECK:
            limits = effective_limits(self.ratings, wiring.pool.supply(self.id), EvSession(), None)
        elif limits is None:
            limits = self.limits()
        present = self.readout.measured_voltage if self.readings.voltage_known else None
        voltage, current = self.output.drive(voltage, current, limits, present, cycle)
        self.readout.driven_voltage, self.readout.driven_current = voltage, current
        modules = wiring.pool.modules_of(self.id)
        if not modules:
            return
        if limits is not None and voltage > 0.0:
            wiring.power.export(modules, voltage, current, voltage_max=limits.voltage_max)
        else:
            wiring.power.off(modules)
