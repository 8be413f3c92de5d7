"""Bounds on the ops server's heavy requests: at most so many at once, the next ones answered 503.

A :class:`Gate` admits at most ``limit`` requests of one kind at a time
(``/metrics`` scrapes, dashboard streams, history reads, commands to the
station); one more is answered ``503`` with ``Retry-After`` at once, without
doing any of its work. Refusals come in runs while a client floods: a
:class:`Run` logs the first refusal of a run (WARNING) and, once nothing was
refused for :data:`QUIET_S`, its end with the count (INFO): two lines per
episode, however many requests were refused.

A gate is used from one event loop only (the ops server's, or the loop of
the :class:`~.bridge.Commands` caller): no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator

from aiohttp import web

from pecc_core.episode import Episode

log = logging.getLogger(__name__)

#: A run of refusals has ended when nothing was refused for this long (s).
QUIET_S = 10.0
#: What a refused client is told to wait (s).
RETRY_AFTER_S = 1


class Run:
    """A run of refusals of one kind, logged once when it starts and once when it has ended."""

    def __init__(self, what: str) -> None:
        self._episode = Episode(log, what, ok_level=logging.INFO)
        self._last = 0.0

    def refused(self, detail: str) -> None:
        self._last = asyncio.get_running_loop().time()
        self._episode.failed(detail)

    def check(self) -> None:
        """Something went through: the run has ended if the last refusal is :data:`QUIET_S` old."""
        if self._episode.active and asyncio.get_running_loop().time() - self._last >= QUIET_S:
            self._episode.ok()


def busy(message: str) -> web.HTTPServiceUnavailable:
    """503 ``{"error": message}``, with ``Retry-After``."""
    return web.HTTPServiceUnavailable(
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class Gate:
    """At most ``limit`` of ``what`` at once (see the module doc)."""

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        self.inside = 0
        self._refusals = Run(f"control API: {what}")

    @contextlib.contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a place while the block runs; :func:`busy` (503) if every place is taken."""
        if self.inside >= self.limit:
            self._refusals.refused(f"{self.limit} at once already; answering 503 to more")
            raise busy(f"{self.what}: {self.limit} at once already; try again later")
        self._refusals.check()
        self.inside += 1
        try:
            yield
        finally:
            self.inside -= 1
