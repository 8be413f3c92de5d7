"""Typed keys of what the control API's application shares with its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from pecc_core.station import Station
    from pecc_plugins.ctl.auth import Access
    from pecc_plugins.ctl.history import History
    from pecc_plugins.ctl.limits import LimitsKeeper
    from pecc_plugins.ctl.recorder import Recorder

STATION: web.AppKey[Station] = web.AppKey("station")
RECORDER: web.AppKey[Recorder] = web.AppKey("recorder")
HISTORY: web.AppKey[History] = web.AppKey("history")
LIMITS: web.AppKey[LimitsKeeper] = web.AppKey("limits")
METRICS: web.AppKey[CollectorRegistry] = web.AppKey("metrics")
ACCESS: web.AppKey[Access] = web.AppKey("access")
