"""Log lines a misbehaving SECC can cause, at a bounded rate.

An SECC that floods invalid infos or stray replies must not turn the log
(synchronous I/O on the event loop) into the bottleneck of every other gun.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any


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
