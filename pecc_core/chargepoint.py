"""One gun (charge point): its state machine, what a transport calls, what it reports.

The transport maps each SECC request to one method here and each refusal
(:mod:`pecc_core.errors`) to a protocol error; it reads :meth:`ChargePoint.status`
for every status message. Every transition of the gun goes through the one
table :data:`TRANSITIONS` (mirrored in ``docs/state-machine.md``), is logged
with the gun id and the reason, and is reported to the observer plugins.

Hardware goes through the station: the module pool and power driver for
the output, the I/O drivers for contactors, IMD and CP/PP supervision.
The station's control loop calls :meth:`ChargePoint.update` every cycle to
refresh measurements and check the fault conditions.

Safety rules this class keeps on every path:

- power (a voltage or current setpoint above 0) is driven only while the
  contactors are commanded closed and their feedback says closed;
- every setpoint is within :func:`pecc_core.pool.effective_limits`
  (gun ∩ modules ∩ car ∩ allocation);
- leaving a session always goes through :meth:`_safe_down`: outputs 0,
  wait for the modules' current to fall (bounded), open the contactors,
  wait for the output to discharge under 60 V (bounded), stop the IMD.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

from pecc_core.errors import InoperativeRefused, InternalRefused, Refused, SeccNotConnected
from pecc_core.io import ContactorError
from pecc_core.limits import GunDemand
from pecc_core.model import (
    Contactors,
    EvConnection,
    EvSession,
    Isolation,
    Limits,
    Operational,
    Phase,
    Status,
    Target,
)
from pecc_core.pool import effective_limits, setpoint_current
from pecc_core.runtime_limits import GunCaps

if TYPE_CHECKING:
    from pecc_core.power import ModuleState
    from pecc_core.profile.model import GunConfig
    from pecc_core.station import Station
    from pecc_core.transport import SeccLink

log = logging.getLogger(__name__)

#: Touch-voltage limit: standby needs the measured output below this (V).
SAFE_VOLTAGE = 60.0
#: How long the modules get to bring their current down before the
#: contactors open anyway (an emergency then, logged as such) (s).
OFF_TIMEOUT = 2.0
#: How long the output may take to discharge under :data:`SAFE_VOLTAGE` (s).
DISCHARGE_TIMEOUT = 5.0
#: How long a reply to ``reset`` / ``contactorsStatus: open`` waits for the
#: transition to standby before answering (the rest goes on behind it) (s).
REPLY_WAIT = 0.3
#: Measured voltage above the applicable maximum by this fraction (+ 5 V) is a fault.
OVER_VOLTAGE_MARGIN = 0.05
#: The cable check drives its test voltage until the output reaches this
#: fraction of it before the IMD starts.
TEST_VOLTAGE_REACHED = 0.9


class GunState(StrEnum):
    """The states of a gun; :attr:`Status.operational` follows from them."""

    STANDBY = "standby"  # contactors open, outputs 0, operative
    CABLE_CHECK = "cableCheck"  # contactors closed, test voltage, IMD test running
    READY = "ready"  # contactors closed, no power
    PRECHARGE = "preCharge"  # driving the target voltage with a small current
    CHARGE = "charge"  # following target voltage and current
    POSTCHARGE = "postCharge"  # outputs 0, contactors closed, still measuring
    STOPPING = "stopping"  # transition to standby: discharging, inoperative
    INOPERATIVE = "inoperative"  # a fault is active


class Event(StrEnum):
    """What can happen to a gun: SECC requests, then internal events."""

    CABLE_CHECK = "cableCheck"
    CLOSE = "contactors closed"
    OPEN = "contactors open"
    TARGET_STANDBY = "targetValues standby"
    TARGET_PRECHARGE = "targetValues preCharge"
    TARGET_CHARGE = "targetValues charge"
    TARGET_POSTCHARGE = "targetValues postCharge"
    RESET = "reset"
    SECC_LOST = "SECC detached"
    TEST_PASSED = "isolation valid/warning"
    TEST_FAILED = "isolation fault"
    FAULT = "fault"
    SAFE = "standby reached"
    CLEARED = "faults cleared, standby reached"


class Outcome(Enum):
    """Table entries that are not a next state."""

    IGNORED = "ignored"  # answered, nothing changes


S, E = GunState, Event
IGNORED = Outcome.IGNORED
_SESSION = (S.READY, S.PRECHARGE, S.CHARGE, S.POSTCHARGE)
_CLOSED = (S.CABLE_CHECK, *_SESSION)
_TARGETS = (E.TARGET_STANDBY, E.TARGET_PRECHARGE, E.TARGET_CHARGE, E.TARGET_POSTCHARGE)
_PHASE_EVENT = {
    Phase.STANDBY: E.TARGET_STANDBY,
    Phase.PRECHARGE: E.TARGET_PRECHARGE,
    Phase.CHARGE: E.TARGET_CHARGE,
    Phase.POSTCHARGE: E.TARGET_POSTCHARGE,
}

#: The transition table, the one place that says what a gun does
#: (``docs/state-machine.md`` shows the same rows; a test keeps them equal).
#: ``(from states, events, outcome)``: a next state, ``IGNORED`` (answered,
#: nothing changes) or a refusal class (the request gets that error).
#: Guards checked by the code on top of the table: CP/PP supervision must
#: allow closing (else :class:`InternalRefused`); targetValues also need
#: isolation valid/warning (else ignored); a voltage above the limits is
#: :class:`ValueRefused` before anything changes; a reset while inoperative
#: whose faults have already cleared is accepted (the gun is on its way to
#: standby). A (state, event) pair not listed is an internal event with
#: nothing to do.
Row = tuple[tuple[GunState, ...], tuple[Event, ...], "GunState | Outcome | type[Refused]"]
TABLE: tuple[Row, ...] = (
    ((S.STANDBY, S.READY, S.POSTCHARGE), (E.CABLE_CHECK,), S.CABLE_CHECK),
    ((S.CABLE_CHECK,), (E.CABLE_CHECK,), IGNORED),
    ((S.PRECHARGE, S.CHARGE), (E.CABLE_CHECK,), InternalRefused),
    ((S.CABLE_CHECK,), (E.TEST_PASSED,), S.READY),
    ((S.CABLE_CHECK,), (E.TEST_FAILED,), S.STOPPING),
    ((S.STANDBY,), (E.CLOSE,), S.READY),
    (_CLOSED, (E.CLOSE,), IGNORED),
    ((S.STANDBY,), (E.OPEN,), IGNORED),
    (_CLOSED, (E.OPEN,), S.STOPPING),
    ((S.STANDBY, S.CABLE_CHECK), _TARGETS, IGNORED),
    (_SESSION, (E.TARGET_STANDBY,), S.READY),
    (_SESSION, (E.TARGET_PRECHARGE,), S.PRECHARGE),
    (_SESSION, (E.TARGET_CHARGE,), S.CHARGE),
    (_SESSION, (E.TARGET_POSTCHARGE,), S.POSTCHARGE),
    ((S.STANDBY,), (E.RESET,), S.STANDBY),
    ((*_CLOSED, S.STOPPING), (E.RESET,), S.STOPPING),
    ((S.INOPERATIVE,), (E.RESET,), InoperativeRefused),
    ((S.STOPPING, S.INOPERATIVE), (E.CABLE_CHECK, E.CLOSE, E.OPEN, *_TARGETS), InoperativeRefused),
    (_CLOSED, (E.SECC_LOST,), S.STOPPING),
    ((S.STANDBY, *_CLOSED, S.STOPPING), (E.FAULT,), S.INOPERATIVE),
    ((S.STOPPING,), (E.SAFE,), S.STANDBY),
    ((S.INOPERATIVE,), (E.CLEARED,), S.STANDBY),
)

TRANSITIONS: dict[tuple[GunState, Event], GunState | Outcome | type[Refused]] = {
    (state, event): outcome
    for states, events, outcome in TABLE
    for state in states
    for event in events
}

#: States in which the gun is reported inoperative.
_INOPERATIVE_STATES = frozenset({S.STOPPING, S.INOPERATIVE})
#: States whose demand counts for the power allocation.
_ACTIVE_STATES = frozenset(_CLOSED)
_ISOLATION_OK = frozenset({Isolation.VALID, Isolation.WARNING})


class ChargePoint:
    """A gun: its configuration, its SECC link, what the car said, its state."""

    def __init__(self, config: GunConfig, station: Station) -> None:
        self.config = config
        #: The operator's run-time caps (control API); :attr:`capped` applies them.
        self.caps = GunCaps()
        #: ``config`` with the run-time caps applied: what every limit is computed from.
        self.capped = config
        self.id = config.id
        self.path = config.path
        self.station = station
        self.secc: SeccLink | None = None
        self.ev_connection = EvConnection.DISCONNECTED
        self.vehicle_id: str | None = None
        self.ev = EvSession()
        #: The last accepted targetValues (None outside a session); simulators
        #: and policies read it, only the state machine writes it.
        self.target: Target | None = None
        self.state = GunState.STANDBY
        #: The allocation's power cap (W); 0 until the policy gives power.
        self.power_cap = 0.0
        #: Active fault conditions by kind, with their event text.
        self.faults: dict[str, str] = {}
        self._status = Status()
        self._closed_cmd = False  # what the contactors were last commanded
        self._switching = False  # a contactor command is in progress
        self._drive_voltage = 0.0  # the requested voltage being driven (V)
        self._drive_request = 0.0  # the requested current, before clamping (A)
        self._task: asyncio.Task[None] | None = None  # cable check or safe-down
        self._safe_down_running = False
        self._epoch = 0  # counts transitions to stopping/inoperative (see _close)
        self._demand: GunDemand | None = None
        self._active_since = 0.0

    def __repr__(self) -> str:
        return f"<ChargePoint {self.id} {self.state}>"

    # -- what the transport reads -------------------------------------------

    def status(self) -> Status:
        """The values of the next status message (the gun's own object: do not keep it)."""
        return self._status

    def configuration(self) -> Limits:
        """The gun's present effective limits (configuration response).

        An idle gun reports what it could get from the modules it can
        reach; a gun in a session what its modules and allocation give.
        """
        pool = self.station.pool
        if self.state in _ACTIVE_STATES:
            return self.limits()
        hardware = pool.capability(self.id) if pool.modules_of(self.id) else pool.potential(self.id)
        return effective_limits(self.capped, hardware, self.ev, None)

    def limits(self) -> Limits:
        """The limits every setpoint is held to now (modules, car and allocation)."""
        return effective_limits(
            self.capped, self.station.pool.capability(self.id), self.ev, self.power_cap
        )

    # -- SECC requests --------------------------------------------------------

    async def cable_check(self, voltage: float) -> None:
        """Start the isolation test at (at most) ``voltage``; the result comes in status."""
        outcome = self._outcome(E.CABLE_CHECK)
        if outcome is IGNORED:
            return
        test_voltage = min(voltage, self.limits().voltage_max)
        await self._close()
        self._status.isolation = Isolation.INVALID
        self._go(E.CABLE_CHECK, f"cableCheck at {test_voltage:g} V (asked {voltage:g} V)")
        self._task = asyncio.get_running_loop().create_task(
            self._cable_check(test_voltage), name=f"cable-check-{self.id}"
        )

    async def target_values(self, target: Target) -> None:
        """Drive the output as the SECC asks, within every limit."""
        event = _PHASE_EVENT[target.phase]
        outcome = self._outcome(event)
        current = setpoint_current(self.limits(), target.voltage, target.current)  # may refuse
        if outcome is IGNORED or self._status.isolation not in _ISOLATION_OK:
            log.debug("gun %s: %s ignored in %s", self.id, event, self.state)
            return
        self.target = target
        self._demand = None
        if target.phase is Phase.PRECHARGE:
            self._drive(target.voltage, self.config.precharge_current)
        elif target.phase is Phase.CHARGE:
            self._drive(target.voltage, target.current)
        else:
            self._drive(0.0, 0.0)
        if outcome is not self.state:
            self._go(event, f"{target.voltage:g} V / {target.current:g} A (driving {current:g} A)")

    async def set_contactors(self, closed: bool) -> None:
        """Close or open the output contactors."""
        event = E.CLOSE if closed else E.OPEN
        outcome = self._outcome(event)
        if outcome is IGNORED:
            return
        if closed:
            await self._close()
            self._go(E.CLOSE, "contactorsStatus closed")
        else:
            self._go(E.OPEN, "contactorsStatus open")
            await self._stop_and_wait()

    async def reset(self) -> None:
        """Go to standby: outputs 0, contactors open, modules released, operative."""
        if self.state is S.INOPERATIVE and not self.faults:
            await self._stop_and_wait()  # faults cleared: already on its way to standby
            return
        outcome = self._outcome(E.RESET)
        self._status.isolation = Isolation.INVALID
        self.target = None
        if outcome is S.STANDBY:
            self._drive(0.0, 0.0)
            self.station.io.imd.stop(self.id)
            return
        if self.state is not S.STOPPING:
            self._go(E.RESET, "reset")
        await self._stop_and_wait()

    # -- SECC information -------------------------------------------------------

    def ev_connection_changed(self, state: EvConnection, vehicle_id: str | None) -> None:
        """evConnectionState: informational only, never a safety input."""
        self.ev_connection = state
        self.vehicle_id = vehicle_id if state is EvConnection.CONNECTED else self.vehicle_id
        if state is EvConnection.DISCONNECTED:
            self.vehicle_id = None
            self.ev.clear()
            self._demand = None
        log.info("gun %s: EV %s%s", self.id, state, f" ({vehicle_id})" if vehicle_id else "")

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
            self._go(E.SECC_LOST, f"SECC detached ({reason})")

    def link(self) -> SeccLink:
        """The live SECC link; :class:`SeccNotConnected` without one."""
        if self.secc is None:
            raise SeccNotConnected(f"no SECC is connected to gun {self.id}")
        return self.secc

    # -- called by the station ------------------------------------------------------

    def demand(self) -> GunDemand:
        """What this gun wants, for the policy (rebuilt only when it changes)."""
        if self._demand is None:
            active = self.state in _ACTIVE_STATES and (
                self.state is S.CABLE_CHECK or self._status.isolation in _ISOLATION_OK
            )
            target = self.target
            self._demand = GunDemand(
                gun=self.id,
                active=active,
                voltage=self._drive_voltage or (target.voltage if target else 0.0),
                current=target.current if target else self._drive_request,
                power_max=effective_limits(
                    self.capped, self.station.pool.potential(self.id), self.ev, None
                ).power_max,
                priority=self.caps.priority,
                soc=target.soc if target else None,
                since=self._active_since,
            )
        return self._demand

    @property
    def holds_modules(self) -> bool:
        """True during the safe-down: its modules must stay to measure the discharge."""
        return self._safe_down_running

    def set_caps(self, caps: GunCaps) -> None:
        """New run-time caps: they count for the policy and the setpoint at once."""
        self.caps = caps
        self.capped = caps.apply(self.config)
        self._demand = None
        self.refresh_output()

    def set_power_cap(self, power: float) -> None:
        """The allocation's cap for this gun (W); a lower cap applies at once."""
        if power != self.power_cap:
            self.power_cap = power
            self.refresh_output()

    def refresh_output(self) -> None:
        """Re-apply the present setpoint to the gun's modules and limits now."""
        if self._drive_voltage > 0.0 or self._drive_request > 0.0:
            self._drive(self._drive_voltage, self._drive_request)

    def update(self) -> None:
        """One control cycle: measurements, contactor feedback, IMD and fault conditions."""
        station = self.station
        status = self._status
        station.pool.measure(self.id, status)
        closed = station.io.contactors.closed(self.id)
        status.contactors = Contactors.CLOSED if closed else Contactors.OPEN
        faults = self.faults
        monitoring = self.state in _SESSION and status.isolation is not Isolation.FAULT
        if monitoring:
            result = station.io.imd.result(self.id)
            if result is not Isolation.INVALID:
                status.isolation = result
        active = monitoring and status.isolation is Isolation.FAULT
        if active != ("isolation" in faults):
            self._condition("isolation", active, "isolation fault reported by the IMD during the session")
        active = not self._switching and closed != self._closed_cmd
        if active != ("contactors" in faults):
            self._condition(
                "contactors",
                active,
                f"contactor feedback says {'closed' if closed else 'open'}, "
                f"commanded {'closed' if self._closed_cmd else 'open'}",
            )
        self.check_modules()
        v_limit = self.config.voltage_max
        if self.ev.ev_max_voltage_volts is not None:
            v_limit = min(v_limit, self.ev.ev_max_voltage_volts)
        active = status.measured_voltage > v_limit * (1 + OVER_VOLTAGE_MARGIN) + 5.0
        if active != ("over_voltage" in faults):
            self._condition(
                "over_voltage",
                active,
                f"over-voltage: measured {status.measured_voltage:.0f} V, limit {v_limit:.0f} V",
            )
        if "discharge" in faults and status.measured_voltage < SAFE_VOLTAGE:
            self._condition("discharge", False, "")

    def check_modules(self) -> None:
        """Fault while a module on this gun fails, or while no usable module can reach it.

        Called every cycle and at once when the driver reports a module
        change, so a failing module is noticed before the policy takes it
        away. Once the policy has moved the failed module off this gun the
        condition clears and the gun carries on with the others.
        """
        pool = self.station.pool
        module = pool.first_unusable(self.id)
        if (module is not None) != ("module" in self.faults):
            self._condition("module", module is not None, _module_text(module))
        unpowered = not pool.reachable_usable(self.id)
        if unpowered != ("no_modules" in self.faults):
            self._condition("no_modules", unpowered, "no usable power module can reach this gun")

    def in_standby(self) -> bool:
        """Standby, verified: state, driven 0, contactors open, output under 60 V."""
        s = self._status
        return (
            self.state is S.STANDBY
            and s.driven_voltage == 0.0
            and s.driven_current == 0.0
            and not self.station.io.contactors.closed(self.id)
            and s.measured_voltage < SAFE_VOLTAGE
        )

    async def shutdown(self) -> None:
        """Station stop: reach standby (or a safe inoperative state) whatever happens."""
        if self.state in _CLOSED:
            self._go(E.RESET, "station stopping")
        self._start_safe_down()
        task = self._task
        if task is not None:
            await asyncio.wait({task}, timeout=OFF_TIMEOUT + DISCHARGE_TIMEOUT + 1.0)

    # -- the machine -----------------------------------------------------------------

    def _outcome(self, event: Event) -> GunState | Outcome:
        """The table's answer to a request ``event`` now; raises its refusal."""
        outcome = TRANSITIONS[(self.state, event)]
        if isinstance(outcome, type):
            raise outcome(f"gun {self.id} is {self.state}: {event} not possible")
        return outcome

    def _go(self, event: Event, reason: str) -> None:
        """Take the table's transition for ``event`` and do what the new state needs."""
        old = self.state
        new = TRANSITIONS[(old, event)]
        assert isinstance(new, GunState), (old, event, new)
        self.state = new
        self._demand = None
        status = self._status
        status.operational = (
            Operational.INOPERATIVE if new in _INOPERATIVE_STATES else Operational.OPERATIVE
        )
        if new in _ACTIVE_STATES and old not in _ACTIVE_STATES:
            self._active_since = asyncio.get_running_loop().time()
        log.info("gun %s: %s -> %s on %s: %s", self.id, old, new, event, reason)
        if new in _INOPERATIVE_STATES:
            self._epoch += 1
            self._drive(0.0, 0.0)
            self.target = None
            self._start_safe_down()
        elif new is S.STANDBY or new is S.READY:
            self._drive(0.0, 0.0)
        if old != new:
            self.station.plugins.gun_state_changed(self, old, new, reason)
        self.station.gun_changed(self)

    def _drive(self, voltage: float, current: float) -> None:
        """Send the setpoint to the gun's modules now, held to every limit.

        No power without closed contactors (commanded and confirmed).
        """
        station = self.station
        self._drive_voltage, self._drive_request = voltage, current
        status = self._status
        closed = self._closed_cmd and station.io.contactors.closed(self.id)
        modules = station.pool.modules_of(self.id)
        if closed and voltage > 0.0:  # a current without a voltage drives nothing
            limits = self.limits()
            voltage = min(voltage, limits.voltage_max)
            current = setpoint_current(limits, voltage, current)
        else:
            voltage = current = 0.0
        status.driven_voltage, status.driven_current = voltage, current
        if not modules:
            return
        if voltage > 0.0:
            station.driver.export(modules, voltage, current)
        else:
            station.driver.off(modules)

    async def _close(self) -> None:
        """Close the contactors if they are open; CP/PP must allow it.

        The control loop runs while the contactors move: if the gun was
        taken down meanwhile (fault, SECC loss), the safe-down owns the
        contactors and the request is refused.
        """
        if self._closed_cmd and self.station.io.contactors.closed(self.id):
            return
        if not self.station.io.supervision.allowed(self.id):
            raise InternalRefused(f"gun {self.id}: CP/PP supervision does not allow closing the contactors")
        epoch = self._epoch
        try:
            await self._switch(True)
        except ContactorError as exc:
            if epoch == self._epoch:
                self._condition("contactors", True, str(exc))
                raise InternalRefused(str(exc)) from None
        if epoch != self._epoch:
            if self.state not in _INOPERATIVE_STATES:  # already back in standby: open again
                self._start_safe_down()
            raise InoperativeRefused(f"gun {self.id} was taken to standby while closing its contactors")

    async def _switch(self, closed: bool) -> None:
        self._closed_cmd = closed
        self._switching = True
        try:
            await self.station.io.contactors.set(self.id, closed)
        finally:
            self._switching = False
            feedback = self.station.io.contactors.closed(self.id)
            self._status.contactors = Contactors.CLOSED if feedback else Contactors.OPEN

    async def _cable_check(self, test_voltage: float) -> None:
        """Drive the test voltage, run the IMD test, report, ramp back down."""
        station = self.station
        imd = station.io.imd
        cycle = station.cycle
        imd.stop(self.id)
        self._drive(test_voltage, self.config.precharge_current)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + station.profile.timings.precharge_ms / 1000
        while (
            self._status.measured_voltage < test_voltage * TEST_VOLTAGE_REACHED
            and loop.time() < deadline
        ):
            await asyncio.sleep(cycle)
            if self.state is not S.CABLE_CHECK:
                return
        imd.start(self.id)
        deadline = loop.time() + station.profile.timings.cable_check_ms / 1000 + 5.0
        result = imd.result(self.id)
        while result is Isolation.INVALID and loop.time() < deadline:
            await asyncio.sleep(cycle)
            if self.state is not S.CABLE_CHECK:
                return
            result = imd.result(self.id)
        if result is Isolation.INVALID:
            log.warning("gun %s: isolation test gave no result in time", self.id)
            result = Isolation.FAULT
        self._forget_task()
        self._drive(0.0, 0.0)
        self._status.isolation = result
        if result in _ISOLATION_OK:
            self._go(E.TEST_PASSED, f"isolation {result}")
        else:
            self._go(E.TEST_FAILED, f"isolation {result}")

    def _forget_task(self) -> None:
        """At the end of the cable check or safe-down task: it is no longer the gun's task."""
        if self._task is asyncio.current_task():
            self._task = None

    def _start_safe_down(self) -> None:
        if self._safe_down_running:
            return
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._safe_down_running = True
        self._task = asyncio.get_running_loop().create_task(self._safe_down(), name=f"safe-down-{self.id}")

    async def _stop_and_wait(self) -> None:
        """Let the transition to standby run, replying after at most :data:`REPLY_WAIT`."""
        self._start_safe_down()
        task = self._task
        if task is not None:
            await asyncio.wait({task}, timeout=REPLY_WAIT)

    async def _safe_down(self) -> None:
        """Outputs 0, current down, contactors open, output discharged, IMD stopped."""
        station = self.station
        try:
            self._drive(0.0, 0.0)
            modules = station.pool.modules_of(self.id)
            if not await station.driver.wait_off(modules, OFF_TIMEOUT):
                log.error("gun %s: current still flowing after %.1f s: opening under load",
                          self.id, OFF_TIMEOUT)
            if self._closed_cmd or station.io.contactors.closed(self.id):
                with contextlib.suppress(ContactorError):  # update() reports the mismatch
                    await self._switch(False)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + DISCHARGE_TIMEOUT
            station.pool.measure(self.id, self._status)
            while self._status.measured_voltage >= SAFE_VOLTAGE and loop.time() < deadline:
                await asyncio.sleep(station.cycle)
                station.pool.measure(self.id, self._status)
            self._condition(
                "discharge",
                self._status.measured_voltage >= SAFE_VOLTAGE,
                f"output still at {self._status.measured_voltage:.0f} V after {DISCHARGE_TIMEOUT:g} s",
            )
            station.io.imd.stop(self.id)
        finally:
            self._safe_down_running = False
            self._forget_task()
        if self.state is S.STOPPING:
            self._go(E.SAFE, "outputs 0, contactors open, output discharged")
        elif self.state is S.INOPERATIVE and not self.faults:
            self._go(E.CLEARED, "fault cleared")

    def _condition(self, kind: str, active: bool, text: str) -> None:
        """Track one fault condition: raise it when it appears, clear it when it goes.

        Callers in the control cycle test for a change first, so that no
        text is built while all is well.
        """
        if active == (kind in self.faults):
            return
        plugins = self.station.plugins
        if active:
            message = f"gun {self.id}: {text}"
            self.faults[kind] = message
            log.warning("%s", message)
            plugins.gun_fault(self, message, True)
            if self.secc is not None:
                self.secc.send_event(message)
            if (self.state, E.FAULT) in TRANSITIONS:
                self._go(E.FAULT, message)
            return
        message = self.faults.pop(kind)
        log.info("gun %s: cleared: %s", self.id, message)
        plugins.gun_fault(self, message, False)
        if self.state is S.INOPERATIVE and not self.faults and not self._safe_down_running:
            self._go(E.CLEARED, f"cleared: {message}")


def _module_text(module: ModuleState | None) -> str:
    if module is None:
        return ""
    if not module.online:
        return f"power module {module.address} is not answering"
    faults = ", ".join(sorted(module.faults))
    return f"power module {module.address} fault: {faults}"


__all__ = ["TABLE", "TRANSITIONS", "ChargePoint", "Event", "GunState", "Phase"]
