"""The ``ctl`` service: the control API on its own loopback port, beside the station."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pecc_core.profile.schema import Boolean, Integer, StrictSchema, String, between
from pecc_plugins.ctl.api import ControlApi
from pecc_plugins.ctl.http import JsonHttpServer

if TYPE_CHECKING:
    from pecc_core.station import Station

log = logging.getLogger(__name__)

DEFAULT_PORT = 8766


class CtlParams(StrictSchema):
    """``host`` / ``port`` to listen on; ``allow_remote`` answers non-loopback clients too."""

    host = String(load_default="127.0.0.1")
    port = Integer(load_default=DEFAULT_PORT, validate=between(0, 65535))
    allow_remote = Boolean(load_default=False)


class ControlService:
    """Serves :class:`ControlApi` for ``station`` while the runtime runs."""

    def __init__(self, params: dict[str, Any], station: Station) -> None:
        self.host = params["host"]
        self.server = JsonHttpServer(
            ControlApi(station), params["host"], params["port"], params["allow_remote"]
        )

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()
        log.info("control API on http://%s:%d/api", self.host, self.port)

    async def stop(self) -> None:
        await self.server.stop()
