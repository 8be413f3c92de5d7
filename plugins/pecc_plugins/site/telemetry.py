"""Telemetry on the site's broker: every gun's state (retained), the cabinet's events and sessions.

For an energy manager, a SCADA or Home Assistant watching the site
without the control API. A gun's state is published when it changed, at
most once per ``interval`` (a second by default: the SECC's 200 ms status
is no use to a dashboard and would multiply the broker's load by five);
measurements change by noise, so they are compared rounded (0.1 V, 0.1 A).
Events (state changes and faults, from the observer hooks) are published
as they happen; while the broker is away they are dropped and counted,
never queued without bound.

A session record is published when a session ends: it opens when a gun
leaves standby for a session state and ends when it leaves them (to
stopping, inoperative or standby): ``completed`` when the SECC ended it
(``contactorsStatus open`` or ``reset``), ``failed`` otherwise. Its energy
is the measured V x A integrated every control cycle.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pecc_plugins.site import WATCHING, broker

if TYPE_CHECKING:
    import aiomqtt

    from pecc_core.gun import Gun
    from pecc_core.station import Station
    from pecc_plugins.site.topics import Topics

log = logging.getLogger(__name__)

#: Events kept while a publish is under way; older ones are dropped (and counted) beyond it.
EVENT_BACKLOG = 1000
SESSION_STATES = frozenset({"cableCheck", "ready", "preCharge", "charge", "postCharge"})
#: The reasons of the transitions by which an SECC ends its own session.
REQUESTED_ENDS = ("contactorsStatus open", "reset")

def gun_state(gun: Gun) -> dict[str, Any]:
    """A gun's retained state message (without the time stamp)."""
    status = gun.report()
    return {
        "state": str(gun.state),
        "operational": str(status.operational),
        "contactors": str(status.contactors),
        "isolation": str(status.isolation),
        "measured_v": round(status.measured_voltage, 1),
        "measured_a": round(status.measured_current, 1),
        "power_w": round(status.measured_voltage * status.measured_current),
        "driven_v": round(status.driven_voltage, 1),
        "driven_a": round(status.driven_current, 1),
        "temperature_c": round(status.temperature, 1),
        "allowance_w": round(gun.allowance),
        "faults": sorted(gun.faults),
    }


@dataclass(slots=True)
class Session:
    """A session in progress on one gun."""

    start: float
    energy_wh: float = 0.0
    peak_power_w: float = 0.0

    def record(self, gun: str, end: float, reason: str) -> dict[str, Any]:
        return {
            "gun": gun, "start": self.start, "end": end, "duration_s": round(end - self.start, 1),
            "energy_wh": round(self.energy_wh, 1), "peak_power_w": round(self.peak_power_w),
            "end_reason": reason, "outcome": "completed" if reason in REQUESTED_ENDS else "failed",
        }


class Telemetry:
    """Publishes one cabinet's gun states and events while connected."""

    def __init__(self, station: Station, topics: Topics, cabinet: str, interval: float) -> None:
        self.station = station
        self.topics = topics
        self.cabinet = cabinet
        self.interval = interval
        self.dropped = 0
        self.published = 0
        self._last: dict[str, dict[str, Any]] = {}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=EVENT_BACKLOG)
        self._pending = asyncio.Event()
        self._connected = False
        self._sessions: dict[str, Session] = {}
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=EVENT_BACKLOG)
        for gun in station.guns.values():
            WATCHING[gun] = self

    def state_changed(self, gun: Gun, old: str, new: str, reason: str) -> None:
        """A transition (observer hook): an event; a session opened or ended."""
        self.event(gun.id, "state", old=old, new=new, reason=reason)
        if new in SESSION_STATES and gun.id not in self._sessions:
            self._sessions[gun.id] = Session(time.time())
        elif new not in SESSION_STATES and (session := self._sessions.pop(gun.id, None)) is not None:
            if not self._connected:
                self.dropped += 1
                return
            self._records.append(session.record(gun.id, time.time(), reason))
            self._pending.set()

    async def meter(self) -> None:
        """Integrate the energy of every session in progress, every control cycle (until cancelled)."""
        cycle = self.station.cycle
        guns = self.station.guns
        while True:
            await asyncio.sleep(cycle)
            for gun_id, session in self._sessions.items():
                status = guns[gun_id].readout
                power = status.measured_voltage * status.measured_current
                session.energy_wh += power * cycle / 3600
                session.peak_power_w = max(session.peak_power_w, power)

    def event(self, gun: str | None, kind: str, **data: Any) -> None:
        """Queue an event for the broker (from an observer hook: never blocks)."""
        if not self._connected:
            self.dropped += 1
            return
        if len(self._events) == self._events.maxlen:
            self.dropped += 1
        self._events.append({"at": time.time(), "gun": gun, "kind": kind, **data})
        self._pending.set()

    async def run(self, client: aiomqtt.Client) -> None:
        """Publish while ``client`` is connected (cancelled with the connection)."""
        self._last.clear()  # the broker may have lost retained states: send them all again
        self._connected = True
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._states(client))
                group.create_task(self._send_events(client))
        finally:
            self._connected = False

    async def _states(self, client: aiomqtt.Client) -> None:
        while True:
            for gun in self.station.guns.values():
                state = gun_state(gun)
                if self._last.get(gun.id) != state:
                    self._last[gun.id] = state
                    await client.publish(self.topics.gun_state(self.cabinet, gun.id),
                                         broker.encode({"at": time.time(), **state}), qos=0, retain=True)
                    self.published += 1
            await asyncio.sleep(self.interval)

    async def _send_events(self, client: aiomqtt.Client) -> None:
        events, sessions = self.topics.events(self.cabinet), self.topics.sessions(self.cabinet)
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self._events:
                await client.publish(events, broker.encode(self._events.popleft()), qos=1)
                self.published += 1
            while self._records:
                await client.publish(sessions, broker.encode(self._records.popleft()), qos=1)
                self.published += 1
