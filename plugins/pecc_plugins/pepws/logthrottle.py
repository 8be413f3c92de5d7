"""Log lines a misbehaving SECC can cause, at a bounded rate.

An SECC that floods invalid infos or stray replies must not turn the log
(synchronous I/O on the event loop) into the bottleneck of every other gun.
"""

from __future__ import annotations

import logging
import time
from typing import Any


class LogThrottle:
    """At most ``burst`` lines per ``window`` seconds; then says how many it held back.

    ``extra`` goes with every line (the gun of the connection, for JSON logs).
    """

    __slots__ = ("_burst", "_count", "_extra", "_held", "_logger", "_start", "_window")

    def __init__(
        self, logger: logging.Logger, burst: int = 10, window: float = 1.0, extra: dict[str, Any] | None = None
    ) -> None:
        self._logger = logger
        self._extra = extra
        self._burst = burst
        self._window = window
        self._start = 0.0
        self._count = 0
        self._held = 0

    def log(self, level: int, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._start >= self._window:
            if self._held:
                self._logger.log(level, "... %d more such lines held back", self._held, extra=self._extra)
            self._start, self._count, self._held = now, 0, 0
        if self._count < self._burst:
            self._count += 1
            self._logger.log(level, msg, *args, extra=self._extra)
        else:
            self._held += 1
