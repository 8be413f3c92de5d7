"""Running a station as a service on one asyncio loop.

Start order: services (e.g. the module simulator, standing in for
hardware) -> station (I/O, power driver; whatever a previous run left on is
switched off first) -> transport, so that an SECC that connects finds
everything live and safe. Stop order: the sessions are ended while the
connections still carry status (:mod:`pecc_core.shutdown`: stopCharging,
guns to standby, bounded, with an emergency path), then the reverse of the
start order: connections closed (1001), drivers stopped, services stopped.
It runs on SIGINT/SIGTERM, on a failure while starting, and on any error
that escapes a task.

SIGHUP re-reads the profile and hands it to the transport (and to any
service that has ``reload``): new certificates and allow-lists for new
connections, live ones stay. A profile that no longer loads changes
nothing (the problems are logged).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pecc_core.asyncutil import call_maybe_async, loop_name
from pecc_core.errors import ConfigError
from pecc_core.gun.table import GunState
from pecc_core.profile import ProfileError
from pecc_core.profile import load as load_profile
from pecc_core.profile.model import PluginChoice
from pecc_core.sdnotify import SystemdNotifier
from pecc_core.shutdown import wind_down
from pecc_core.station import Station

if TYPE_CHECKING:
    from pecc_core.plugins import PluginManager
    from pecc_core.profile.model import Profile
    from pecc_core.transport import Transport

log = logging.getLogger(__name__)

#: How often the systemd status line is brought up to date (s); sent only when it changed.
STATUS_PERIOD = 1.0


@dataclass
class Runtime:
    """A started station with its transport and services."""

    profile: Profile
    plugins: PluginManager
    station: Station = field(init=False)
    transport: Transport = field(init=False)
    services: list[Any] = field(default_factory=list, init=False)
    _started: list[Any] = field(default_factory=list, init=False)

    def build(self) -> None:
        """Build station, transport and services; start nothing.

        Every plugin factory of the profile runs here, so ``pecc profiles
        validate`` (which stops after this) accepts exactly what ``pecc run``
        accepts. A factory that refuses its part of the profile raises
        :class:`~pecc_core.errors.ConfigError` naming the profile key.
        """
        profile, plugins = self.profile, self.plugins
        try:
            self.station = Station.build(profile, plugins)
        except ConfigError:
            raise
        except Exception as exc:  # e.g. the gun's or the pool's own checks of the profile
            raise ConfigError(f"station: cannot be built from this profile: {exc}") from exc
        self.transport = plugins.build(
            "transport", "server.transport", PluginChoice(profile.server.transport, {}), self.station, profile.server
        )
        self.services = [
            plugins.build("service", f"services[{i}]", s, s.params, self.station)
            for i, s in enumerate(profile.services)
        ]
        self.station.services = tuple(self.services)
        self.station.transport = self.transport

    async def start(self) -> None:
        """Build and start everything; on failure, stop what started and re-raise."""
        self.build()
        try:
            # Services first: a simulator stands in for hardware, which is there
            # before the station starts and still there while it shuts down.
            for service in self.services:
                await call_maybe_async(getattr(service, "start", None))
                self._started.append(service)
            await self.station.start()
            self._started.append(self.station)
            await self.transport.start()
            self._started.append(self.transport)
        except BaseException:
            await self.stop()
            raise
        self.plugins.station_started(self.station)

    def reload(self) -> None:
        """Re-read the profile; the transport and services that can take it do (SIGHUP)."""
        try:
            profile = load_profile(str(self.profile.source), self.plugins)
        except ProfileError as exc:
            log.error("reload refused, nothing changed: %s", exc)
            return
        for part in (self.transport, *self.services):
            reload = getattr(part, "reload", None)
            if reload is None:
                continue
            try:
                reload(profile)
            except ConfigError as exc:
                log.error("reload of %s refused, it keeps its settings: %s", type(part).__name__, exc)

    async def stop(self) -> None:
        """End the sessions while the SECCs still listen, then stop whatever was started, newest first.

        Never raises.
        """
        if self._started:
            self.plugins.station_stopping(self.station)
        if self.station in self._started:
            try:
                await wind_down(self.station)
            except Exception:
                log.exception("ending the sessions failed; stopping anyway")
        while self._started:
            part = self._started.pop()
            try:
                await call_maybe_async(getattr(part, "stop", None))
            except Exception:
                log.exception("stopping %s failed", type(part).__name__)


def raise_open_file_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (every SECC connection is a descriptor)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, hard, exc)
            return soft
    return hard


async def serve(profile: Profile, plugins: PluginManager) -> None:
    """Run until SIGINT or SIGTERM, then stop cleanly; tells systemd when ready."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("event loop: %s", loop_name(loop))
    log.info("open-file limit: %d", raise_open_file_limit())
    systemd = SystemdNotifier()
    runtime = Runtime(profile, plugins)
    await runtime.start()
    # What start built lives as long as the process: out of the cyclic collector's way, so that
    # its full collections (which stop every thread) scan only what was made since.
    gc.freeze()
    loop.add_signal_handler(signal.SIGHUP, runtime.reload)
    status = (
        f"serving {len(runtime.station.guns)} guns on {profile.server.host}:{runtime.transport.port}"
    )
    log.info("PECC %s %s", profile.name, status)
    systemd.notify(f"READY=1\nSTATUS={status}")
    tasks = [asyncio.create_task(systemd.keep_alive())]
    if systemd.enabled:
        tasks.append(asyncio.create_task(report_status(systemd, runtime.station, status)))
    try:
        await stop.wait()
        log.info("stopping: sessions ended, guns to standby, then connections closed and modules off")
        systemd.notify("STOPPING=1")
    finally:
        for task in tasks:
            task.cancel()
        await runtime.stop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)


def summary(station: Station) -> str:
    """How many guns charge, are faulted (a fault active or inoperative) and have their SECC connected."""
    guns = station.guns.values()
    charging = sum(1 for gun in guns if gun.state is GunState.CHARGE)
    faulted = sum(1 for gun in guns if gun.faults or gun.state is GunState.INOPERATIVE)
    connected = sum(1 for gun in guns if gun.secc is not None)
    return f"{charging} charging, {faulted} faulted, {connected} SECCs connected"


async def report_status(systemd: SystemdNotifier, station: Station, prefix: str) -> None:
    """Keep ``systemctl status`` true: ``STATUS=<prefix>; <summary>`` whenever the summary changes."""
    sent = ""
    while True:
        status = f"{prefix}; {summary(station)}"
        if status != sent:
            systemd.notify(f"STATUS={status}")
            sent = status
        await asyncio.sleep(STATUS_PERIOD)

