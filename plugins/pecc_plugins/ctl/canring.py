"""The flight recorder's CAN frames in flat arrays: about 24 bytes a frame, not an object each.

A bus carries thousands of frames a second and the recorder keeps every
one of 33 s: as a tuple each (its time, identifier, data, ...) that was
about 200 bytes a frame, 15 MB for a charging 72-gun station. Here a frame
is a slot in six arrays (time, identifier, direction and kind, bus,
length, and its data in one ``bytearray``): about 24 bytes, nothing for the
garbage collector to track.

The arrays grow at the end. The frames that fell out of the window (or
beyond ``max_entries``) stay in front of the first kept one until they are
as many as the kept ones, then go in one move: each frame is moved about
once more, and the arrays hold at most twice what is kept.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from pecc_plugins.ctl.incidents import CanEntry

#: Dropped frames are let pile up to at least this many before they go (fewer moves of small arrays).
COMPACT_AT = 4096
_RECEIVED, _EXTENDED = 1, 2


@dataclass(frozen=True, slots=True)
class CanFrames:
    """A copy of a :class:`CanRing`'s frames, oldest first: read as :data:`CanEntry` tuples, in any thread."""

    times: array[float]
    ids: array[int]
    flags: array[int]
    channels: array[int]
    sizes: array[int]
    data: bytes

    def __iter__(self) -> Iterator[CanEntry]:
        data, position = self.data, 0
        for t, arbitration_id, flags, channel, size in zip(
            self.times, self.ids, self.flags, self.channels, self.sizes, strict=True
        ):
            end = position + size
            yield t, bool(flags & _RECEIVED), arbitration_id, bool(flags & _EXTENDED), data[position:end], channel
            position = end

    def __len__(self) -> int:
        return len(self.times)


class CanRing:
    """The CAN frames of the last ``keep_s`` seconds, at most ``max_entries`` of them (see the module doc)."""

    __slots__ = ("_channels", "_data", "_first", "_first_byte", "_flags", "_ids", "_sizes", "_times",
                 "keep_s", "max_entries")

    def __init__(self, keep_s: float, max_entries: int) -> None:
        self.keep_s = keep_s
        self.max_entries = max_entries
        self._times = array("d")
        self._ids = array("I")
        self._flags = array("B")
        self._channels = array("H")
        self._sizes = array("B")
        self._data = bytearray()
        self._first = 0  # the oldest frame kept
        self._first_byte = 0  # and where its data starts

    def add(self, t: float, received: bool, arbitration_id: int, extended: bool, data: bytes | bytearray,
            channel: int) -> None:
        """Append a frame (``t``: not older than the last one's); drop those older than ``keep_s`` before it."""
        times = self._times
        times.append(t)
        self._ids.append(arbitration_id)
        self._flags.append(received | extended << 1)
        self._channels.append(channel)
        self._sizes.append(len(data))
        self._data += data
        if times[self._first] < t - self.keep_s or len(times) - self._first > self.max_entries:
            self._drop(t - self.keep_s, len(times) - self.max_entries)

    def _drop(self, horizon: float, beyond: int) -> None:
        """Drop the frames before ``horizon`` and those before index ``beyond``; move them out when due."""
        times, sizes = self._times, self._sizes
        first, first_byte = self._first, self._first_byte
        while times[first] < horizon or first < beyond:
            first_byte += sizes[first]
            first += 1
        if first >= COMPACT_AT and 2 * first >= len(times):
            for column in (times, self._ids, self._flags, self._channels, sizes):
                del column[:first]
            del self._data[:first_byte]
            first = first_byte = 0
        self._first, self._first_byte = first, first_byte

    def copy(self) -> CanFrames:
        """Every frame kept, oldest first (a copy: taken on the loop, read anywhere)."""
        first = self._first
        return CanFrames(
            self._times[first:], self._ids[first:], self._flags[first:], self._channels[first:],
            self._sizes[first:], bytes(self._data[self._first_byte:]),
        )

    def __len__(self) -> int:
        return len(self._times) - self._first

    def __sizeof__(self) -> int:
        """What the ring holds, its arrays' allocations included (``sys.getsizeof``: the benchmarks' figure)."""
        columns = (self._times, self._ids, self._flags, self._channels, self._sizes, self._data)
        return object.__sizeof__(self) + sum(column.__sizeof__() for column in columns)
