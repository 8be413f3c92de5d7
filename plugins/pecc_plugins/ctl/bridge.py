"""The two ways between the station's loop and the ops server's thread.

- :class:`Commands`: the ops server's writes (run-time limits, SECC
  requests, simulator injections, the audit's records) run on the
  station's loop (``asyncio.run_coroutine_threadsafe``), never on the ops
  thread: the station's objects are touched by the station's loop only.
  At most ``limit`` commands are queued or running at once; one more is
  answered 503 at once (:class:`~.gate.Gate`). After each command the
  station publishes a fresh snapshot (:mod:`.snapshot`), so that the
  answer, and any read after it, sees the change.
- :class:`Inbox`: events recorded on the station's loop, for the
  dashboard's streams on the ops loop. A put costs an append (and one
  ``call_soon_threadsafe`` per batch); at most ``limit`` wait, the oldest
  are dropped when the ops loop falls that far behind.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pecc_plugins.ctl.gate import Gate

if TYPE_CHECKING:
    from pecc_plugins.ctl.snapshot import Publisher

T = TypeVar("T")
Item = TypeVar("Item")


class Commands:
    """Runs the ops server's writes on the station's loop (see the module doc)."""

    def __init__(self, limit: int, publisher: Publisher) -> None:
        self.gate = Gate("commands to the station", limit)
        self._publisher = publisher
        self._station: asyncio.AbstractEventLoop | None = None

    def bind(self, station_loop: asyncio.AbstractEventLoop) -> None:
        """The station's loop (the service's start, on it)."""
        self._station = station_loop

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """``await call()`` on the station's loop; its result here. 503 when ``limit`` are under way."""
        with self.gate.admit():
            return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._on_station(call), self._loop()))

    def post(self, function: Callable[..., object], *args: Any) -> None:
        """``function(*args)`` on the station's loop, soon; nothing waits for it."""
        self._loop().call_soon_threadsafe(function, *args)

    async def _on_station(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        finally:
            self._publisher.publish()

    def _loop(self) -> asyncio.AbstractEventLoop:
        if self._station is None:
            raise RuntimeError("the ops server's commands are not bound to the station's loop")
        return self._station


class Inbox(Generic[Item]):
    """Items put on one loop, delivered on another, in order (see the module doc)."""

    def __init__(self, deliver: Callable[[Item], None], limit: int) -> None:
        self._deliver = deliver
        self._items: deque[Item] = deque(maxlen=limit)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = False

    def bind(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """The loop that delivers (None: puts are ignored from now on)."""
        self._loop = loop

    def put(self, item: Item) -> None:
        """Hand ``item`` over (from the other loop)."""
        loop = self._loop
        if loop is None:
            return
        self._items.append(item)
        if not self._wake:
            self._wake = True
            loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        self._wake = False  # first: an item put from now on wakes this loop again
        while self._items:
            self._deliver(self._items.popleft())
