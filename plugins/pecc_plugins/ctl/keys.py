"""Typed keys of what the control API's application shares with its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from pecc_core.station import Station

STATION: web.AppKey[Station] = web.AppKey("station")
