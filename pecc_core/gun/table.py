"""The gun's states, events and transition table: the one place that says what a gun does.

``docs/state-machine.md`` shows the same rows (a test keeps them equal).
:class:`pecc_core.gun.machine.Gun` looks every request and internal event
up here; nothing else decides a next state.
"""

from __future__ import annotations

from enum import Enum, StrEnum

from pecc_core.errors import InoperativeRefused, InternalRefused, Refused
from pecc_core.model import Isolation, Phase


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
    """What can happen to a gun: SECC requests, then internal events.

    Observers get the event of every transition
    (:func:`~pecc_core.hookspecs.pecc_gun_state_changed`), so they tell why a
    session ended from it (e.g. :data:`SECC_ENDS`), never from a log text.
    """

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
    SHUTDOWN = "station stopping"


class Outcome(Enum):
    """Table entries that are not a next state."""

    IGNORED = "ignored"  # answered, nothing changes


S, E = GunState, Event
IGNORED = Outcome.IGNORED
#: States of a session: contactors closed, the SECC drives the output.
SESSION = (S.READY, S.PRECHARGE, S.CHARGE, S.POSTCHARGE)
#: States with the contactors commanded closed.
CLOSED = (S.CABLE_CHECK, *SESSION)
#: The requests by which the SECC itself ends a session; every other way out
#: of one (a fault, a failed isolation test, the SECC gone, the station
#: stopping) is not its choice.
SECC_ENDS = frozenset({E.OPEN, E.RESET})
_TARGETS = (E.TARGET_STANDBY, E.TARGET_PRECHARGE, E.TARGET_CHARGE, E.TARGET_POSTCHARGE)
#: The event of each targetValues phase.
PHASE_EVENT = {
    Phase.STANDBY: E.TARGET_STANDBY,
    Phase.PRECHARGE: E.TARGET_PRECHARGE,
    Phase.CHARGE: E.TARGET_CHARGE,
    Phase.POSTCHARGE: E.TARGET_POSTCHARGE,
}

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
    (CLOSED, (E.CLOSE,), IGNORED),
    ((S.STANDBY,), (E.OPEN,), IGNORED),
    (CLOSED, (E.OPEN,), S.STOPPING),
    ((S.STANDBY, S.CABLE_CHECK), _TARGETS, IGNORED),
    (SESSION, (E.TARGET_STANDBY,), S.READY),
    (SESSION, (E.TARGET_PRECHARGE,), S.PRECHARGE),
    (SESSION, (E.TARGET_CHARGE,), S.CHARGE),
    (SESSION, (E.TARGET_POSTCHARGE,), S.POSTCHARGE),
    ((S.STANDBY,), (E.RESET,), S.STANDBY),
    ((*CLOSED, S.STOPPING), (E.RESET,), S.STOPPING),
    ((S.INOPERATIVE,), (E.RESET,), InoperativeRefused),
    ((S.STOPPING, S.INOPERATIVE), (E.CABLE_CHECK, E.CLOSE, E.OPEN, *_TARGETS), InoperativeRefused),
    (CLOSED, (E.SECC_LOST,), S.STOPPING),
    ((S.STANDBY, *CLOSED, S.STOPPING), (E.FAULT,), S.INOPERATIVE),
    ((S.STOPPING,), (E.SAFE,), S.STANDBY),
    ((S.INOPERATIVE,), (E.CLEARED,), S.STANDBY),
    (CLOSED, (E.SHUTDOWN,), S.STOPPING),
)

TRANSITIONS: dict[tuple[GunState, Event], GunState | Outcome | type[Refused]] = {
    (state, event): outcome
    for states, events, outcome in TABLE
    for state in states
    for event in events
}

#: States in which the gun is reported inoperative.
INOPERATIVE_STATES = frozenset({S.STOPPING, S.INOPERATIVE})
#: States whose demand counts for the power allocation.
ACTIVE_STATES = frozenset(CLOSED)
#: Isolation results that allow power.
ISOLATION_OK = frozenset({Isolation.VALID, Isolation.WARNING})
