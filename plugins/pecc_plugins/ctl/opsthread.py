"""The ops server's own thread and event loop: its clients never share the guns' loop.

A scrape, a history read or a dashboard stream costs the ops loop, not the
station's: the station's loop only captures a snapshot now and then
(:mod:`.snapshot`) and runs the commands the ops server sends it
(:mod:`.bridge`). :class:`OpsThread` starts the thread, runs the aiohttp
application on that thread's loop, and stops both. The station's loop
waits for the thread through an executor (``run_in_executor``), so it goes
on running meanwhile (the commands of requests still under way need it).

The ops loop (:class:`OpsLoop`) keeps the station loop's time: one clock in
the process, so that the lockout windows of :mod:`.auth`, the dashboard's
timers and a snapshot's age are all counted on the clock the station runs
on (and the tests control).

Both threads share one interpreter lock, so the ops thread is kept from
taking the station's time in two ways:

- a thread that wants the lock waits until the holder lets go, at most
  the interpreter's switch interval (``sys.getswitchinterval``, 5 ms by
  default); the station's loop wakes up hundreds of times a second, and
  behind an ops thread kept busy by its clients it would wait that long at
  every wake-up (a 72-gun station then falls behind by hundreds of ms).
  While the ops thread runs, the switch interval is :data:`SWITCH_INTERVAL_S`;
- the ops loop is busy at most ``cpu_share`` of the time
  (:class:`PacedSelector`): after a busy stretch it rests, without the
  lock, until its busy time is that share of the whole. Clients that ask
  for more than that get slower answers, and the refusals of :mod:`.gate`;
  the station keeps the rest of the interpreter.

:class:`OpsOnLoop` serves the same application on the station's own loop
instead (the profile's ``thread = false``): the in-process tests, whose
loop runs on virtual time, which a thread's real time would leave behind.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import selectors
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from pecc_core.clock import stopwatch

if TYPE_CHECKING:
    import ssl

#: How long the requests under way get to finish when the server stops (s);
#: the dashboard's streams are ended at once.
SHUTDOWN_S = 5.0
#: The interpreter's switch interval while the ops thread runs (s): the longest the
#: station's loop waits for the interpreter behind a busy ops thread.
SWITCH_INTERVAL_S = 0.001
#: The shortest rest of a paced loop (s): shorter debts wait for the next select.
MIN_REST_S = 0.005
#: The longest (s): one long busy stretch (a large history read) is paid back in parts.
MAX_REST_S = 0.5


class PacedSelector(selectors.DefaultSelector):
    """A selector that keeps its loop busy at most ``share`` of the time.

    The time between two ``select`` calls is the loop's busy time; each
    second of it is a debt of ``(1 - share) / share`` seconds of rest, paid
    by the time spent waiting in ``select`` and, once it exceeds
    :data:`MIN_REST_S`, by a rest before the next ``select`` (the thread
    waits on an event nobody sets: the interpreter lock is free meanwhile).
    The times are the code's own (:func:`pecc_core.clock.stopwatch`), not
    the loop's clock: this bounds the thread's use of the machine.
    """

    def __init__(self, share: float) -> None:
        super().__init__()
        self._debt_per_busy = (1.0 - share) / share
        self._debt = 0.0
        self._woke = stopwatch()
        self._rest = threading.Event()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self._debt = min(self._debt + (stopwatch() - self._woke) * self._debt_per_busy, MAX_REST_S)
        if self._debt >= MIN_REST_S:
            self._rest.wait(self._debt)
            timeout = None if timeout is None else max(0.0, timeout - self._debt)
            self._debt = 0.0
        waiting = stopwatch()
        ready = super().select(timeout)
        self._woke = stopwatch()
        self._debt = max(0.0, self._debt - (self._woke - waiting))
        return ready


class OpsLoop(asyncio.SelectorEventLoop):
    """An event loop whose time is ``clock`` (the station loop's ``time``), busy at most ``cpu_share`` of it."""

    def __init__(self, clock: Callable[[], float], cpu_share: float) -> None:
        super().__init__(PacedSelector(cpu_share))
        self._clock = clock

    def time(self) -> float:
        return self._clock()


class OpsThread:
    """Serves ``app`` on ``host:port`` from a thread of its own (see the module doc)."""

    def __init__(
        self,
        app: web.Application,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        logger: logging.Logger,
        cpu_share: float,
    ) -> None:
        self.app = app
        self.cpu_share = cpu_share
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.logger = logger
        #: The ops loop, while the thread runs.
        self.loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._switch_interval: float | None = None  # the interpreter's, while not running

    @property
    def addresses(self) -> list[Any]:
        return list(self._runner.addresses) if self._runner is not None else []

    async def start(self) -> None:
        """Start the thread and serve; returns once the port is bound (raises what binding raised)."""
        serving: concurrent.futures.Future[None] = concurrent.futures.Future()
        clock = asyncio.get_running_loop().time
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._main, args=(serving, clock), name="pecc-ops", daemon=True)
        self._thread.start()
        try:
            await asyncio.get_running_loop().run_in_executor(None, serving.result)
        except BaseException:
            await self._join()
            raise

    async def stop(self) -> None:
        """Stop serving (the app's shutdown and cleanup on the ops loop), then end the thread."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        await self._join()

    async def _join(self) -> None:
        if self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None

    def _main(self, serving: concurrent.futures.Future[None], clock: Callable[[], float]) -> None:
        try:
            loop = OpsLoop(clock, self.cpu_share)  # a selector: a file descriptor, which may be refused
        except BaseException as exc:
            serving.set_exception(exc)
            return
        self.loop = loop
        try:
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                serving.set_exception(exc)
                return
            serving.set_result(None)
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(self._cleanup())
            finally:
                loop.close()
                self.loop = None

    async def _serve(self) -> None:
        self._runner = await serve(self.app, self.host, self.port, self.ssl_context, self.logger)

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class OpsOnLoop:
    """Serves ``app`` on ``host:port`` from the running loop: as :class:`OpsThread` does, with no thread."""

    def __init__(
        self, app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None, logger: logging.Logger
    ) -> None:
        self._serving = (app, host, port, ssl_context, logger)
        self._runner: web.AppRunner | None = None
        #: The loop it serves on, while serving.
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def addresses(self) -> list[Any]:
        return list(self._runner.addresses) if self._runner is not None else []

    async def start(self) -> None:
        """Serve; returns once the port is bound (raises what binding raised)."""
        self._runner = await serve(*self._serving)
        self.loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        """Stop serving: the app's shutdown and cleanup."""
        self.loop = None
        if self._runner is not None:
            await self._runner.cleanup()


async def serve(
    app: web.Application, host: str, port: int, ssl_context: ssl.SSLContext | None, logger: logging.Logger
) -> web.AppRunner:
    """``app`` served on ``host:port`` from the running loop, its runner set up; nothing left open if binding fails."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, logger=logger, shutdown_timeout=SHUTDOWN_S)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
