"""The ``ctl`` service: the control API on its own port and its own thread, beside the station.

The port comes from the profile (``params.port``), overridden by the
``PECC_CTL_PORT`` environment variable (``pecc run --ctl-port`` sets the
profile's value); 0 picks any free port. The bound URL is logged and
written to ``ctl.json`` in the state directory, where ``pecc ctl
--profile`` looks first.

Start order (the runtime starts services before the station and the
PEP-WS server): the history is opened and the saved run-time limits are
applied to the station first, then the station's snapshot is published,
then the ops server starts serving on its own thread (:mod:`.opsthread`).
So a ``GET /api/limits`` never shows the profile's limits in place of the
saved ones, and no ``PUT`` can be overwritten by a late restore;
``/readyz`` answers 503 until the station has started. Stop: the ops
server first (its streams ended), then the snapshot, then the flight
recorder (its open incident written), then the recorder and the history.
While it runs, the recorder's hooks and the flight recorder's are
registered with the station's plugin manager (:mod:`.observers`,
:mod:`.flight`); the history tells the other plugins what it records
through the plugin manager too.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp.http_exceptions import HttpProcessingError
from marshmallow import ValidationError

from pecc_core.errors import ConfigError
from pecc_core.profile import files
from pecc_core.profile.model import TlsConfig
from pecc_core.profile.schema import (
    Boolean,
    Integer,
    List,
    Nested,
    Number,
    StrictSchema,
    String,
    between,
)
from pecc_core.tls import server_context
from pecc_plugins.ctl.app import Backend, Bounds, make_app
from pecc_plugins.ctl.auth import Access, TokenSchema, check_exposure, load_tokens
from pecc_plugins.ctl.bridge import Commands
from pecc_plugins.ctl.dashboard import FEED
from pecc_plugins.ctl.flight import NAME as FLIGHT
from pecc_plugins.ctl.flight import FlightRecorder, FlightSettings
from pecc_plugins.ctl.history import History, Retention
from pecc_plugins.ctl.incidents import IncidentStore
from pecc_plugins.ctl.limits import LimitsKeeper
from pecc_plugins.ctl.observers import NAME as RECORDER
from pecc_plugins.ctl.observers import RecorderHooks
from pecc_plugins.ctl.opsthread import OpsOnLoop, OpsThread
from pecc_plugins.ctl.recorder import Recorder
from pecc_plugins.ctl.snapshot import Publisher
from pecc_plugins.ctl.state import history_file, incidents_dir, runtime_file, state_dir
from pecc_plugins.ctl.tokens import Token

if TYPE_CHECKING:
    import ssl

    from pecc_core.profile.model import Profile
    from pecc_core.station import Station

log = logging.getLogger(__name__)
#: aiohttp's protocol-level log (malformed requests), as one line without a traceback.
http_log = logging.getLogger("pecc_plugins.ctl.http")


class _BadRequestsInOneLine(logging.Filter):
    """A malformed request is the client's fault: INFO, its reason, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = f"{record.msg}: {error.code} {error.message}".replace("\n", " ")
            record.exc_info = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


http_log.addFilter(_BadRequestsInOneLine())

DEFAULT_PORT = 8766
PORT_ENV = "PECC_CTL_PORT"


class CtlTlsSchema(StrictSchema):
    cert = String(required=True)
    key = String(required=True)


class CtlParams(StrictSchema):
    """``host`` / ``port`` to listen on; ``allow_remote`` answers non-loopback clients too.

    ``state_dir``: where the history and the run-time limits are kept
    (default: see :func:`pecc_plugins.ctl.state.state_dir`);
    ``history_max_rows`` (per table) and ``history_max_days`` bound it.
    ``tls`` (``cert``, ``key``): HTTPS; ``tokens`` / ``tokens_file``: bearer
    tokens (:mod:`pecc_plugins.ctl.auth`); ``allowed_hosts``: host names,
    beyond the loopback ones, that clients may use in ``Host``. Relative
    paths are relative to the profile's folder.

    At most ``max_scrapes`` ``/metrics`` scrapes, ``max_streams`` dashboard
    streams, ``max_history_reads`` history reads and ``max_commands``
    commands to the station at once; one more is answered 503 (:mod:`.gate`).
    ``cpu_share``: the share of the time the ops server's thread may be
    busy (:mod:`.opsthread`). ``thread = false`` serves on the station's
    loop instead, with no thread (the in-process tests, on virtual time).

    The flight recorder (:mod:`.flight`, docs/incidents.md) keeps
    ``flight_window_s`` of traffic; an incident is written
    ``incident_after_s`` after its first cause; at most ``incidents_max``
    incidents in ``incidents_max_mb`` MB are kept, the oldest removed.
    """

    host = String(load_default="127.0.0.1")
    port = Integer(load_default=DEFAULT_PORT, validate=between(0, 65535))
    allow_remote = Boolean(load_default=False)
    state_dir = String(load_default=None, allow_none=True)
    history_max_rows = Integer(load_default=200_000, validate=between(100, 100_000_000))
    history_max_days = Number(load_default=90.0, validate=between(0.001, 36_500))
    tls = Nested(CtlTlsSchema, load_default=None, allow_none=True)
    tokens = List(Nested(TokenSchema), load_default=list)
    tokens_file = String(load_default=None, allow_none=True)
    allowed_hosts = List(String(), load_default=list)
    max_scrapes = Integer(load_default=4, validate=between(1, 1000))
    max_streams = Integer(load_default=16, validate=between(1, 1000))
    max_history_reads = Integer(load_default=2, validate=between(1, 1000))
    max_commands = Integer(load_default=16, validate=between(1, 1000))
    cpu_share = Number(load_default=0.25, validate=between(0.05, 1.0))
    thread = Boolean(load_default=True)
    flight_window_s = Number(load_default=30.0, validate=between(1.0, 600.0))
    incident_after_s = Number(load_default=3.0, validate=between(0.0, 60.0))
    incidents_max = Integer(load_default=50, validate=between(1, 10_000))
    incidents_max_mb = Number(load_default=200.0, validate=between(1.0, 100_000.0))


def port_from_env(configured: int) -> int:
    """``PECC_CTL_PORT`` if set (checked like the profile key), else ``configured``."""
    raw = os.environ.get(PORT_ENV)
    if raw is None:
        return configured
    try:
        return int(CtlParams().load({"port": int(raw)})["port"])
    except (ValueError, ValidationError):
        raise ValueError(f"{PORT_ENV}: got {raw!r}; expected a port from 0 to 65535") from None


class ControlService:
    """Serves the control API for ``station`` while the runtime runs."""

    def __init__(self, params: dict[str, Any], station: Station) -> None:
        self.station = station
        self.host: str = params["host"]
        self._port = port_from_env(params["port"])
        self.state_dir: Path = state_dir(params["state_dir"], station.profile.name)
        retention = Retention(params["history_max_rows"], params["history_max_days"] * 86_400)
        self._folder = station.profile.source.parent
        self._ssl = self._tls_context(params["tls"])
        tokens = self._tokens(params)
        check_exposure(params["allow_remote"], self._ssl is not None, tokens)
        hosts = frozenset([*params["allowed_hosts"], self.host])
        # Remote clients present a token; a DNS-rebinding page cannot, so any Host may pass then.
        self.access = Access(tokens, hosts, any_host=params["allow_remote"] and not params["allowed_hosts"])
        history = History(history_file(self.state_dir), retention)
        # what it records, every other plugin is told (the site telemetry publishes it)
        history.listeners.append(functools.partial(station.plugins.event_recorded, station))
        history.session_listeners.append(functools.partial(station.plugins.session_recorded, station))
        recorder = Recorder(station, history)
        self.hooks = RecorderHooks(recorder)
        incidents = IncidentStore(
            incidents_dir(self.state_dir), params["incidents_max"], int(params["incidents_max_mb"] * 1_000_000)
        )
        self.flight = FlightRecorder(
            station, incidents, FlightSettings(params["flight_window_s"], params["incident_after_s"]),
            recorder.incident,
        )
        publisher = Publisher(station, recorder, history)
        self.backend = Backend(
            station, history, recorder, LimitsKeeper(station, history, recorder), publisher,
            Commands(params["max_commands"], publisher), incidents,
        )
        bounds = Bounds(params["max_scrapes"], params["max_streams"], params["max_history_reads"])
        self.app = make_app(self.backend, bounds, allow_remote=params["allow_remote"], access=self.access)
        self._ops: OpsThread | OpsOnLoop = (
            OpsThread(self.app, self.host, self._port, self._ssl, http_log, params["cpu_share"])
            if params["thread"]
            else OpsOnLoop(self.app, self.host, self._port, self._ssl, http_log)
        )
        #: The dashboard's way in for the history's events.
        self._events = self.app[FEED].inbox.put

    @property
    def port(self) -> int:
        """The bound port (the configured one until started)."""
        addresses = self._ops.addresses
        return int(addresses[0][1]) if addresses else self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"{'https' if self._ssl else 'http'}://{host}:{self.port}"

    def _tls_context(self, tls: dict[str, str] | None) -> ssl.SSLContext | None:
        if tls is None:
            return None
        config = TlsConfig(self._folder / tls["cert"], self._folder / tls["key"], None, False)
        for key, path, private in (("cert", config.cert, False), ("key", config.key, True)):
            problem = files.problem(f"ctl tls.{key}", path, private)
            if problem is not None:
                raise ConfigError(problem)
        return server_context(config, "ctl tls")

    def _tokens(self, params: dict[str, Any]) -> tuple[Token, ...]:
        tokens_file = params["tokens_file"]
        return load_tokens(params["tokens"], self._folder / tokens_file if tokens_file else None)

    def reload(self, profile: Profile) -> None:
        """SIGHUP: the tokens again (a stolen one revoked without a restart, its sessions with it)."""
        params = next((s.params for s in profile.services if s.name == "ctl"), None)
        if params is None:
            return
        tokens = self._tokens(params)
        loop = self._ops.loop
        try:
            if loop is not None:  # the ops thread's objects: changed on its loop
                loop.call_soon_threadsafe(self._replace_tokens, tokens)
                return
        except RuntimeError:  # its loop closed meanwhile
            pass
        self._replace_tokens(tokens)  # not serving: nothing reads them meanwhile

    def _replace_tokens(self, tokens: tuple[Token, ...]) -> None:
        ended = self.access.replace_tokens(tokens)
        log.info("control API: %d tokens after reload; %d dashboard sessions of removed tokens ended",
                 len(self.access.tokens), ended)

    async def start(self) -> None:
        backend = self.backend
        backend.limits.saved = await backend.history.open() or {}
        try:
            self.station.plugins.register(self.hooks, RECORDER)  # before the station starts: it sees it all
            await self.flight.start()
            self.station.plugins.register(self.flight, FLIGHT)
            backend.limits.restore()  # before the station starts: nothing has read or changed them yet
            backend.commands.bind(asyncio.get_running_loop())
            backend.publisher.start()
            backend.history.listeners.append(self._events)
            await self._ops.start()
        except BaseException:
            await self._stop_backend()
            raise
        log.info("control API on %s/api, dashboard on %s/", self.url, self.url)
        self._write_runtime_file()

    async def stop(self) -> None:
        runtime_file(self.state_dir).unlink(missing_ok=True)
        await self._ops.stop()
        await self._stop_backend()

    async def _stop_backend(self) -> None:
        backend = self.backend
        if self.station.plugins.get_plugin(RECORDER) is self.hooks:
            self.station.plugins.unregister(RECORDER)
        if self.station.plugins.get_plugin(FLIGHT) is self.flight:
            self.station.plugins.unregister(FLIGHT)
        if self._events in backend.history.listeners:
            backend.history.listeners.remove(self._events)
        await backend.publisher.stop()
        await self.flight.stop()
        await backend.recorder.stop()
        await backend.history.close()

    def _write_runtime_file(self) -> None:
        path = runtime_file(self.state_dir)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"url": self.url, "pid": os.getpid()}) + "\n")
        except OSError as exc:
            log.warning("cannot write %s (pecc ctl --profile will not find this port): %s", path, exc)
