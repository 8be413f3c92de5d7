"""Many simulated SECC guns at once: connect, run sessions, reconnect.

Each gun is one task with its own connection, so one gun's trouble never
holds up another. A gun runs its sessions one after the other on the same
connection; when the connection is lost it reconnects after the protocol's
reconnect interval (``PEP_WS_RECONNECT_INTERVAL``, 10 s) and goes on with
the next session. A connection that cannot be opened costs one session.

A failed session is retried after a wait that doubles with every failure
in a row (``retry_min`` up to ``retry_max``) and starts over after a
success: a gun the PECC keeps refusing (CP/PP, a fault) costs a few
sessions a minute, not hundreds a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from pecc_core.asyncutil import cancel
from pecc_plugins.seccsim.client import REQUEST_TIMEOUT_S, ConnectionLost, PepClient
from pecc_plugins.seccsim.scenario import Scenario
from pecc_plugins.seccsim.session import ChargingSession, SessionFailed, SessionOptions
from pecc_plugins.seccsim.stats import GunProgress, RunStats

SUBPROTOCOL = Subprotocol("pep1.5")
RECONNECT_INTERVAL_S = 10.0


@dataclass(frozen=True, slots=True)
class RunOptions:
    sessions: int = 1
    session: SessionOptions = field(default_factory=SessionOptions)
    reconnect_interval: float = RECONNECT_INTERVAL_S
    open_timeout: float = 10.0
    #: after this many seconds, end running sessions gracefully and start no more
    duration: float | None = None
    #: how long a PECC reply may take (the protocol's 500 ms); tests on a
    #: shared machine check behaviour with a looser bound, the benchmarks time it
    request_timeout: float = REQUEST_TIMEOUT_S
    #: the TLS context of each ``wss://`` URL (client certificate, CA); others: the system's
    tls: Mapping[str, ssl.SSLContext] = field(default_factory=dict)
    #: the wait before retrying after a failed session, doubled per failure in a row up to retry_max
    retry_min: float = 1.0
    retry_max: float = 30.0


async def simulate(
    urls: list[str], scenario: Scenario, options: RunOptions, stats: RunStats, stop: asyncio.Event | None = None
) -> None:
    """Run ``options.sessions`` sessions on every URL concurrently.

    Setting ``stop`` ends them as ``options.duration`` does: the running
    sessions end gracefully and no other starts (a caller that decides the
    end by what it sees, not by the clock).
    """
    guns = [GunSimulator(url, stats.add_gun(url), scenario, options, stats) for url in urls]

    def finish_all() -> None:
        for gun in guns:
            gun.finish()

    async def finish_on_stop(stop: asyncio.Event) -> None:
        await stop.wait()
        finish_all()

    timer = None
    if options.duration is not None:
        timer = asyncio.get_running_loop().call_later(options.duration, finish_all)
    watch = asyncio.create_task(finish_on_stop(stop)) if stop is not None else None
    try:
        async with asyncio.TaskGroup() as group:
            for gun in guns:
                group.create_task(gun.run())
    finally:
        if timer is not None:
            timer.cancel()
        if watch is not None:
            watch.cancel()


class GunSimulator:
    """The simulated SECC of one gun (one URL)."""

    def __init__(
        self,
        url: str,
        progress: GunProgress,
        scenario: Scenario,
        options: RunOptions,
        stats: RunStats,
    ) -> None:
        self.url = url
        self.progress = progress
        self.scenario = scenario
        self.options = options
        self.stats = stats
        self._number = 0
        self._session: ChargingSession | None = None
        self._finishing = False
        self._failures = 0  # failed sessions in a row
        self._wake = asyncio.Event()  # finish() ends a retry wait at once

    def finish(self) -> None:
        """End the running session gracefully (as stopCharging does) and start no other."""
        self._finishing = True
        self._wake.set()
        self._stop()

    def _more(self) -> bool:
        return self._number < self.options.sessions and not self._finishing

    async def run(self) -> None:
        while self._more():
            try:
                ws = await self._connect()
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                self._number += 1
                self._failed(f"cannot connect: {exc}")
                if self._more():
                    await asyncio.sleep(self.options.reconnect_interval)
                continue
            lost = await self._sessions_on(ws)
            if lost and self._more():
                self.progress.state = "reconnecting"
                await asyncio.sleep(self.options.reconnect_interval)
        self.progress.state = "finished"

    async def _connect(self) -> ClientConnection:
        self.progress.state = "connecting"
        ws = await connect(
            self.url,
            subprotocols=[SUBPROTOCOL],
            compression=None,
            ping_interval=None,  # the SECC watches status instead (PEP-WS)
            proxy=None,
            open_timeout=self.options.open_timeout,
            close_timeout=2.0,
            max_size=2**20,
            ssl=self.options.tls.get(self.url),
        )
        if ws.subprotocol != SUBPROTOCOL:
            self.stats.error(
                self.progress, f"the PECC selected sub-protocol {ws.subprotocol!r}, not {SUBPROTOCOL}"
            )
        return ws

    async def _sessions_on(self, ws: ClientConnection) -> bool:
        """Run sessions until done or the connection is lost (returns True then)."""
        client = PepClient(
            ws, self.progress, self.stats, on_stop_charging=self._stop, request_timeout=self.options.request_timeout
        )
        receiver = asyncio.create_task(client.receive())
        lost = False
        try:
            while self._more():
                self._number += 1
                session = ChargingSession(
                    client,
                    self.scenario,
                    self.options.session,
                    f"{self.scenario.ev.vehicle_id}{self._number:04d}",
                )
                self._session = session
                try:
                    await session.run()
                except SessionFailed as exc:
                    self._failed(str(exc))
                except ConnectionLost as exc:
                    self._failed(str(exc))
                    lost = True
                    break
                else:
                    self.progress.sessions_ok += 1
                    self._failures = 0
                finally:
                    self._session = None
                if self._failures and self._more():
                    await self._back_off()
        finally:
            # a cancellation of this task must go on through here (a suppressed
            # CancelledError once kept a cancelled run going, session after session)
            try:
                await ws.close()
            finally:
                await cancel(receiver)
        return lost

    def _stop(self) -> None:
        # stopCharging is ignored when no session runs (PROTOCOL.md).
        if self._session is not None:
            self._session.request_stop()

    def _failed(self, reason: str) -> None:
        self._failures += 1
        self.stats.session_failed(self.progress, reason)
        self.progress.state = "failed"

    def retry_delay(self) -> float:
        """The wait before the next session after ``_failures`` failures in a row."""
        if not self._failures:
            return 0.0
        options = self.options
        return float(min(options.retry_max, options.retry_min * 2 ** min(self._failures - 1, 30)))

    async def _back_off(self) -> None:
        self.progress.state = "backing off"
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.retry_delay()):
                await self._wake.wait()
