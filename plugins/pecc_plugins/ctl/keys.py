"""Typed keys of what the control API's application shares with its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from pecc_core.station import Station
    from pecc_plugins.ctl.auth import Access
    from pecc_plugins.ctl.bridge import Commands
    from pecc_plugins.ctl.gate import Gate
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.incidents import IncidentStore
    from pecc_plugins.ctl.limits import LimitsKeeper
    from pecc_plugins.ctl.recorder import Recorder
    from pecc_plugins.ctl.snapshot import Publisher

#: The station's objects: touched by the station's loop only (the commands of :mod:`.bridge`).
STATION: web.AppKey[Station] = web.AppKey("station")
RECORDER: web.AppKey[Recorder] = web.AppKey("recorder")
LIMITS: web.AppKey[LimitsKeeper] = web.AppKey("limits")
#: Read by the ops thread: its queries open their own connections.
HISTORY: web.AppKey[History] = web.AppKey("history")
#: Read by the ops thread, in a thread of its own (files).
INCIDENTS: web.AppKey[IncidentStore] = web.AppKey("incidents")
#: What the ops thread reads and how it writes.
PUBLISHER: web.AppKey[Publisher] = web.AppKey("publisher")
COMMANDS: web.AppKey[Commands] = web.AppKey("commands")
SCRAPES: web.AppKey[Gate] = web.AppKey("scrapes")
HISTORY_READS: web.AppKey[Gate] = web.AppKey("history_reads")
ACCESS: web.AppKey[Access] = web.AppKey("access")
