"""What happened at the station: events, energy and sessions, fed by the observer hooks.

One :class:`Recorder` per station. Its hook implementations
(:class:`~pecc_plugins.ctl.observers.RecorderHooks`, registered with the
station's plugin manager while the ``ctl`` service runs) call it; every
call only updates counters in memory and queues a row for the history
writer, and never raises into the core (a failure is logged once per
episode: again only after that kind of call has worked in between).

Energy is integrated per gun from the measured V x I, sampled every
control cycle. A charging session opens when a gun leaves standby for a
session state (cable check or contactors closed) and ends when the gun
goes to stopping or inoperative. The event of that transition says how:
``completed`` when the SECC ended it (contactors open, reset:
:data:`~pecc_core.gun.table.SECC_ENDS`), ``failed`` otherwise (fault,
isolation fault, SECC lost, PECC stopping).

An open session's row is written when it opens, every ``checkpoint_s``
(:data:`CHECKPOINT_S`) after that with its energy and peak power so far,
and when it ends. A PECC that dies (killed, a power cut) thus loses at
most ``checkpoint_s`` of a session's energy: the next start closes the
session as ``failed`` with the energy of its last checkpoint.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_core.episode import Episodes
from pecc_core.gun.table import CLOSED, INOPERATIVE_STATES, SECC_ENDS, GunState
from pecc_core.records import Session
from pecc_plugins.ctl.history import History

if TYPE_CHECKING:
    from pecc_core.gun import Event, Gun
    from pecc_core.station import Station

log = logging.getLogger(__name__)

#: Refusals stored per gun and window; the rest are counted in one summary event.
REFUSALS_PER_WINDOW = 20
REFUSAL_WINDOW_S = 10.0
#: How often an open session's energy so far is written (s).
CHECKPOINT_S = 5.0

@dataclass(slots=True)
class GunRecord:
    """What the recorder keeps per gun (read by the metrics and the API)."""

    energy_wh: float = 0.0  # delivered since the PECC started
    sessions_started: int = 0
    sessions_completed: int = 0
    sessions_failed: int = 0
    session: Session | None = None
    checkpoint: asyncio.TimerHandle | None = None  # the open session's next checkpoint
    last_power_w: float = 0.0
    refusals_in_window: int = 0
    refusals_suppressed: int = 0
    window_start: float = 0.0


@dataclass
class Recorder:
    """Events, sessions and energy of one station (see the module doc)."""

    station: Station
    history: History
    clock: Callable[[], float] = wall
    checkpoint_s: float = CHECKPOINT_S
    guns: dict[str, GunRecord] = field(init=False)
    started: bool = field(default=False, init=False)
    _sampler: asyncio.Task[None] | None = field(default=None, init=False)
    _failing: Episodes[str] = field(
        default_factory=lambda: Episodes(log, lambda what: f"history: recording {what}", ok_level=logging.INFO),
        init=False,
    )

    def __post_init__(self) -> None:
        self.guns = {gun_id: GunRecord() for gun_id in self.station.guns}

    # -- life cycle ---------------------------------------------------------------

    def station_started(self) -> None:
        self.started = True
        self._event(None, "station", {"what": "started"})
        self._sampler = asyncio.get_running_loop().create_task(self._sample(), name="pecc-energy")

    def station_stopping(self) -> None:
        self.started = False
        if self._sampler is not None:
            self._sampler.cancel()
        self._event(None, "station", {"what": "stopping"})

    async def stop(self) -> None:
        if self._sampler is not None:
            await cancel(self._sampler)
        for gun_id, record in self.guns.items():  # a session cut by the stop ends here
            if record.session is not None:
                self._end_session(gun_id, record, record.session, "PECC stopped", "failed")

    # -- observers (never raise) -----------------------------------------------------

    @contextlib.contextmanager
    def guarded(self, what: str) -> Iterator[None]:
        """Log a failure of ``what`` once per episode, never propagate it."""
        try:
            yield
        except Exception:
            self._failing.failed(
                what, "failed (logged again only after it has worked)", traceback=True, level=logging.ERROR
            )
        else:
            self._failing.ok(what)

    def _event(self, gun: str | None, kind: str, data: dict[str, Any], ts: float | None = None) -> None:
        """Record an event; a failing history listener (a live page) is logged, never propagated."""
        with self.guarded("event listeners"):
            self.history.event(gun, kind, data, self.clock() if ts is None else ts)

    def state_changed(self, gun: Gun, old: GunState, new: GunState, event: Event, reason: str) -> None:
        now = self.clock()
        self._event(gun.id, "state", {"from": old.value, "to": new.value, "reason": reason}, now)
        record = self.guns[gun.id]
        if record.session is None and old is GunState.STANDBY and new in CLOSED:
            record.sessions_started += 1
            record.session = Session(uuid.uuid4().hex, gun.id, gun.vehicle_id, now)
            self.history.session(record.session)
            self._checkpoint_at(record, asyncio.get_running_loop().time() + self.checkpoint_s)
        elif record.session is not None and new in INOPERATIVE_STATES:
            record.session.vehicle_id = record.session.vehicle_id or gun.vehicle_id
            self._end_session(
                gun.id, record, record.session, reason, "completed" if event in SECC_ENDS else "failed"
            )

    def _checkpoint_at(self, record: GunRecord, due: float) -> None:
        record.checkpoint = asyncio.get_running_loop().call_at(due, self._checkpoint, record, due)

    def _checkpoint(self, record: GunRecord, due: float) -> None:
        """Write the open session as it is now; the next checkpoint ``checkpoint_s`` after this one was due."""
        with self.guarded("session checkpoint"):
            if record.session is not None:
                self.history.session(record.session)
                self._checkpoint_at(record, due + self.checkpoint_s)

    def _end_session(self, gun_id: str, record: GunRecord, session: Session, reason: str, outcome: str) -> None:
        """End ``session``, the open one of ``record``."""
        if record.checkpoint is not None:
            record.checkpoint.cancel()
            record.checkpoint = None
        session.end, session.end_reason, session.outcome = self.clock(), reason, outcome
        if outcome == "completed":
            record.sessions_completed += 1
        else:
            record.sessions_failed += 1
        record.session = None
        self.history.session(session)
        self._event(gun_id, "session", {
            "outcome": outcome, "energy_wh": round(session.energy_wh, 3),
            "peak_power_w": round(session.peak_power_w, 1), "reason": reason,
            "session": session.id, "start": session.start, "vehicle_id": session.vehicle_id,
        })

    def fault(self, gun: Gun, text: str, active: bool) -> None:
        self._event(gun.id, "fault" if active else "fault_cleared", {"fault": text})

    def secc_connected(self, gun: Gun, peer: str, subprotocol: str | None) -> None:
        self._event(gun.id, "secc_connected", {"peer": peer, "subprotocol": subprotocol})

    def secc_disconnected(self, gun: Gun, reason: str) -> None:
        self._event(gun.id, "secc_disconnected", {"reason": reason})

    def request_refused(self, gun: Gun, kind: str, category: str, details: str) -> None:
        """Store the first refusals of each window per gun; count the rest (a flood stays cheap)."""
        record = self.guns[gun.id]
        now = asyncio.get_running_loop().time()
        if now - record.window_start >= REFUSAL_WINDOW_S:
            if record.refusals_suppressed:
                self._event(gun.id, "refused", {"suppressed": record.refusals_suppressed})
            record.window_start, record.refusals_in_window, record.refusals_suppressed = now, 0, 0
        if record.refusals_in_window >= REFUSALS_PER_WINDOW:
            record.refusals_suppressed += 1
            return
        record.refusals_in_window += 1
        self._event(gun.id, "refused", {"request": kind, "category": category, "details": details})

    def operator(self, action: str, gun: str | None, details: dict[str, Any]) -> None:
        """An operator changed something through the control API."""
        self._event(gun, "operator", {"action": action, **details})

    def incident(self, entry: dict[str, Any]) -> None:
        """The flight recorder wrote an incident (:mod:`.incidents`; on disk now): one event.

        Of its first gun (the one in its id, whose cause opened it), with
        every gun it concerns: one incident is one event, in the history
        as for the plugins told of it (the site telemetry publishes each once).
        """
        guns = entry["guns"]
        self._event(guns[0], "incident", {
            "incident": entry["id"], "guns": guns, "reason": entry["reason"], "size": entry["size"],
        })

    def limits_changed(self, update: Any, source: str) -> None:
        self._event(None, "limits", {"source": source, "update": update})

    # -- energy ---------------------------------------------------------------------

    async def _sample(self) -> None:
        """Integrate V x I of every gun each control cycle; update the open sessions."""
        loop = asyncio.get_running_loop()
        cycle = self.station.cycle
        guns = [(gun, self.guns[gun.id]) for gun in self.station.guns.values()]
        last = loop.time()
        while True:
            await asyncio.sleep(cycle)
            now = loop.time()
            hours = (now - last) / 3600
            last = now
            with self.guarded("energy"):
                for gun, record in guns:
                    status = gun.report()
                    power = max(0.0, status.measured_voltage * status.measured_current)
                    if power == 0.0 and record.last_power_w == 0.0:
                        continue
                    energy = (power + record.last_power_w) / 2 * hours  # trapezoid
                    record.last_power_w = power
                    record.energy_wh += energy
                    session = record.session
                    if session is not None:
                        session.energy_wh += energy
                        session.peak_power_w = max(session.peak_power_w, power)
