"""A ring of recent entries, pruned by time and bounded in count: what the flight recorder keeps.

An entry is a tuple whose first item is its time on the station's loop.
:meth:`Ring.add` is on the hot path of every CAN and PEP-WS frame, so it
does no more than append and drop what fell out of the window: no
formatting, no copy of the frame. The count bound (``max_entries``) holds
the memory even if the entries come faster than anyone planned for: the
oldest go first either way.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Generic, TypeVar

E = TypeVar("E", bound=tuple[Any, ...])


class Ring(Generic[E]):
    """The entries of the last ``keep_s`` seconds, at most ``max_entries`` of them."""

    __slots__ = ("_entries", "keep_s")

    def __init__(self, keep_s: float, max_entries: int) -> None:
        self.keep_s = keep_s
        self._entries: deque[E] = deque(maxlen=max_entries)

    def add(self, entry: E) -> None:
        """Append ``entry`` (its time: not older than the last one's); drop those older than ``keep_s`` before it."""
        entries = self._entries
        entries.append(entry)
        horizon = entry[0] - self.keep_s
        while entries[0][0] < horizon:
            entries.popleft()

    def copy(self) -> list[E]:
        """Every entry kept, oldest first (a copy: taken on the loop, read anywhere)."""
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
