"""A ring of recent entries, pruned by time and bounded in count: what the flight recorder keeps.

An entry is a tuple whose first item is its time on the station's loop
(the CAN frames, thousands a second, are kept in flat arrays instead:
:mod:`.canring`). :meth:`Ring.add` is on the hot path of every PEP-WS
frame, so it does no more than append and drop what fell out of the window: no
formatting, no copy of the frame. The count bound (``max_entries``) holds
the memory even if the entries come faster than anyone planned for: the
oldest go first either way. Entries whose size a peer chooses (PEP-WS
frames: up to the profile's ``max_frame_bytes`` each) go into a
:class:`BudgetRing`, bounded in bytes instead, one per peer
(:class:`BudgetRings`): a peer that floods shortens its own window only.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from operator import itemgetter
from typing import Any, Generic, TypeVar

E = TypeVar("E", bound=tuple[Any, ...])


class Ring(Generic[E]):
    """The entries of the last ``keep_s`` seconds, at most ``max_entries`` of them."""

    __slots__ = ("_entries", "keep_s")

    def __init__(self, keep_s: float, max_entries: int | None) -> None:
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


class BudgetRing(Ring[E]):
    """A ring of at most ``max_bytes``: an entry counts the length of its last item plus ``overhead``.

    The newest entry always stays, whatever its size.
    """

    __slots__ = ("_bytes", "max_bytes", "overhead")

    def __init__(self, keep_s: float, max_bytes: int, overhead: int) -> None:
        super().__init__(keep_s, None)
        self.max_bytes = max_bytes
        self.overhead = overhead
        self._bytes = 0

    def add(self, entry: E) -> None:
        entries = self._entries
        entries.append(entry)
        overhead = self.overhead
        self._bytes += len(entry[-1]) + overhead
        horizon = entry[0] - self.keep_s
        while len(entries) > 1 and (entries[0][0] < horizon or self._bytes > self.max_bytes):
            self._bytes -= len(entries.popleft()[-1]) + overhead

    @property
    def bytes(self) -> int:
        """What the entries kept count (see the class doc)."""
        return self._bytes


class BudgetRings(Generic[E]):
    """A :class:`BudgetRing` per key (an entry's second item), ``max_bytes`` shared out equally.

    The PEP-WS frames of each gun: a gun's peer chooses its frames' size
    and rate, so a flood on one gun may push out that gun's older frames,
    never another's, and all of them together stay within ``max_bytes``.
    An entry of a key not given is not kept.
    """

    __slots__ = ("_rings",)

    def __init__(self, keys: Iterable[str], keep_s: float, max_bytes: int, overhead: int) -> None:
        keys = tuple(keys)
        share = max_bytes // max(1, len(keys))
        self._rings: dict[str, BudgetRing[E]] = {key: BudgetRing(keep_s, share, overhead) for key in keys}

    def add(self, entry: E) -> None:
        """Append ``entry`` to its key's ring (see :meth:`BudgetRing.add`)."""
        ring = self._rings.get(entry[1])
        if ring is not None:
            ring.add(entry)

    def copy(self, keys: Iterable[str]) -> list[E]:
        """The entries of ``keys``, oldest first (a copy: taken on the loop, read anywhere)."""
        rings = self._rings
        return list(heapq.merge(*(rings[key].copy() for key in keys if key in rings), key=itemgetter(0)))

    @property
    def bytes(self) -> int:
        """What every ring's entries count together."""
        return sum(ring.bytes for ring in self._rings.values())

    def __len__(self) -> int:
        return sum(len(ring) for ring in self._rings.values())
