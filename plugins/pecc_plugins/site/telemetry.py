"""Telemetry on the site's broker: every gun's state (retained), the station's events, sessions and incidents.

For an energy manager, a SCADA or Home Assistant watching the site
without the control API. A gun's state is published when it changed, at
most once per ``interval`` (a second by default: the SECC's 200 ms status
is no use to a dashboard and would multiply the broker's load by five);
measurements change by noise, so they are compared rounded (0.1 V, 0.1 A).

Events and session records are the station's history, which the ``ctl``
service keeps (its recorder, fed by the observer hooks) and tells every
plugin about through ``pecc_event_recorded`` and ``pecc_session_recorded``
(:mod:`pecc_core.hookspecs`): the cabinet registers its :class:`Telemetry`
as a plugin while it runs, which publishes every event as it is recorded
and each session's record when the session has ended. An ``incident``
event (the flight recorder wrote one, complete on disk) also goes out on
the cabinet's incidents topic, once per incident, as
:class:`~pecc_plugins.site.messages.IncidentSchema` has it. A station without
the ``ctl`` service publishes gun states only. While the broker is away
they are dropped, never queued without bound.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Any

from pecc_core import hookimpl
from pecc_core.clock import wall
from pecc_plugins.site import broker
from pecc_plugins.site.messages import IncidentSchema, parse

if TYPE_CHECKING:
    from collections.abc import Mapping

    import aiomqtt

    from pecc_core.gun import Gun
    from pecc_core.records import Session
    from pecc_core.station import Station
    from pecc_plugins.site.topics import Topics

log = logging.getLogger(__name__)

#: Events kept while a publish is under way; older ones are dropped beyond it.
EVENT_BACKLOG = 1000


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


def incident(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The incidents topic's message of an ``incident`` event; None (logged) if it does not make one."""
    return parse(IncidentSchema(), {
        "id": event.get("incident"), "guns": event.get("guns"), "reason": event.get("reason"),
        "size": event.get("size"), "at": event.get("ts"),
    }, "incident")


class Telemetry:
    """Publishes one cabinet's gun states, events and session records while connected."""

    def __init__(self, station: Station, topics: Topics, cabinet: str, interval: float) -> None:
        self.station = station
        self.topics = topics
        self.cabinet = cabinet
        self.interval = interval
        self._last: dict[str, dict[str, Any]] = {}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=EVENT_BACKLOG)
        self._records: collections.deque[dict[str, Any]] = collections.deque(maxlen=EVENT_BACKLOG)
        self._pending = asyncio.Event()
        self._connected = False

    # -- the history's hooks (this object is registered as a plugin while the service runs) ----------

    @hookimpl
    def pecc_event_recorded(self, station: Station, event: Mapping[str, Any]) -> None:
        """An event the station's history recorded: to the broker."""
        if station is self.station and self._connected:  # else dropped: nobody would read it in time
            self._events.append(dict(event))  # beyond EVENT_BACKLOG waiting, the oldest is dropped
            self._pending.set()

    @hookimpl
    def pecc_session_recorded(self, station: Station, session: Session) -> None:
        """A session's row the history wrote: to the broker once the session has ended."""
        if station is not self.station or session.end is None or not self._connected:
            return
        self._records.append({
            "gun": session.gun, "session": session.id, "vehicle_id": session.vehicle_id,
            "start": session.start, "end": session.end, "energy_wh": round(session.energy_wh, 3),
            "peak_power_w": round(session.peak_power_w, 1), "end_reason": session.end_reason,
            "outcome": session.outcome,
        })
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
                                         broker.encode({"at": wall(), **state}), qos=0, retain=True)
            await asyncio.sleep(self.interval)

    async def _send_events(self, client: aiomqtt.Client) -> None:
        events, sessions = self.topics.events(self.cabinet), self.topics.sessions(self.cabinet)
        incidents = self.topics.incidents(self.cabinet)
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self._events:
                event = self._events.popleft()
                await client.publish(events, broker.encode(event), qos=1)
                if event["kind"] == "incident" and (written := incident(event)) is not None:
                    await client.publish(incidents, broker.encode(written), qos=1)
            while self._records:
                await client.publish(sessions, broker.encode(self._records.popleft()), qos=1)
