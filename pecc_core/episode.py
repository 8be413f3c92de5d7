"""Log lines that repeat: a run of failures as two lines, a flood at a bounded rate.

A CAN bus fails at frame rate: a send error, a handler bug or a dead
interface repeats hundreds of times a second; a broken observer plugin
raises on every transition; a forged message on a site's broker can come
at any rate. :class:`Episode` turns such a run into two log lines (the
first failure, and the recovery with the count); :class:`Episodes` keeps
one episode per key (per plugin and hook, per kind of write) where one
object watches several things that fail on their own.

:class:`LogThrottle` is the other concept: not failure and recovery but a
stream of distinct lines (each stranger's refused connection, each invalid
message an SECC floods) where every line says something different and the
first ones are worth reading. It lets a burst through per time window and
then logs how many it held back. An episode has no window and no end of
its own; a throttle has no recovery: hence two classes.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Episode:
    """One kind of failure of one component."""

    def __init__(self, logger: logging.Logger, what: str, ok_level: int = logging.WARNING) -> None:
        self._log = logger
        self._what = what
        self._ok_level = ok_level
        self.active = False
        self.count = 0

    def failed(self, detail: object, *, traceback: bool = False, level: int = logging.WARNING) -> None:
        """A failure happened; logged only if it starts an episode."""
        self.count += 1
        if not self.active:
            self.active = True
            self._log.log(level, "%s: %s", self._what, detail, exc_info=traceback)

    def ok(self) -> None:
        """It worked: ends the episode (logged) if one was running."""
        if self.active:
            self._log.log(self._ok_level, "%s: works again after %d failures", self._what, self.count)
            self.active = False
            self.count = 0


class Episodes(Generic[K]):
    """An :class:`Episode` per key, each started and ended on its own.

    Only running episodes are kept: memory grows with what fails now, not
    with every key ever seen. ``what(key)`` names the episode in its lines.
    """

    def __init__(self, logger: logging.Logger, what: Callable[[K], str], ok_level: int = logging.WARNING) -> None:
        self._log = logger
        self._what = what
        self._ok_level = ok_level
        self._running: dict[K, Episode] = {}

    def failed(self, key: K, detail: object, *, traceback: bool = False, level: int = logging.WARNING) -> None:
        """``key`` failed; logged only if it starts an episode of ``key``."""
        episode = self._running.get(key)
        if episode is None:
            episode = self._running[key] = Episode(self._log, self._what(key), self._ok_level)
        episode.failed(detail, traceback=traceback, level=level)

    def ok(self, key: K) -> None:
        """``key`` worked: ends its episode (logged) if one was running."""
        episode = self._running.pop(key, None)
        if episode is not None:
            episode.ok()

    def active(self, key: K) -> bool:
        return key in self._running


class LogThrottle:
    """At most ``burst`` lines per ``window`` seconds; at the window's end, how many it held back.

    The count of held lines is logged when the window closes (a timer on
    the loop), not with the next line, which may never come. ``extra`` goes
    with every line (the gun of the connection, for JSON logs). Call
    :meth:`log` from the event loop.
    """

    __slots__ = ("_burst", "_count", "_extra", "_held", "_level", "_logger", "_report", "_start", "_window")

    def __init__(
        self, logger: logging.Logger, burst: int = 10, window: float = 1.0, extra: dict[str, Any] | None = None
    ) -> None:
        self._logger = logger
        self._extra = extra
        self._burst = burst
        self._window = window
        self._start = -math.inf
        self._count = 0
        self._held = 0
        self._level = logging.INFO
        self._report: asyncio.TimerHandle | None = None

    def log(self, level: int, msg: str, *args: Any) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._start >= self._window:
            self._start, self._count = now, 0
        if self._count < self._burst:
            self._count += 1
            self._logger.log(level, msg, *args, extra=self._extra)
            return
        self._held += 1
        self._level = max(self._level, level) if self._report is not None else level
        if self._report is None:
            self._report = loop.call_at(self._start + self._window, self._held_back)

    def _held_back(self) -> None:
        self._report = None
        held, self._held = self._held, 0
        self._logger.log(self._level, "... %d more such lines held back", held, extra=self._extra)
