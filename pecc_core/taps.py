"""Taps: callbacks that watch a hot path (every CAN frame, every PEP-WS frame) and cannot break it.

A flight recorder, say, adds one to a bus or a transport
(:class:`~pecc_core.power.HasBusTap`, :class:`~pecc_core.transport.HasFrameTap`).
The path calls them in turn; a tap that raises is logged with its traceback
and taken off, so that a watcher's bug never fails a send, a receive loop
or a bus (a frame a tap saw is sent, a frame it saw received is handled).
The taps are a tuple replaced on every change: one added or removed while
the path calls them is safe, and a path with none loops over nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Generic, ParamSpec

log = logging.getLogger(__name__)

P = ParamSpec("P")


class Taps(Generic[P]):
    """The taps of one hot path, ``what`` in the log (``"can1"``, ``"PEP-WS"``)."""

    __slots__ = ("all", "what")

    def __init__(self, what: str) -> None:
        self.what = what
        self.all: tuple[Callable[P, None], ...] = ()

    def add(self, tap: Callable[P, None]) -> None:
        self.all = (*self.all, tap)

    def remove(self, tap: Callable[P, None]) -> None:
        """Take ``tap`` off (one not added is ignored); bound methods compare equal, not identical."""
        self.all = tuple(t for t in self.all if t != tap)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every tap; one that raises is taken off (the hot path goes on)."""
        for tap in self.all:
            try:
                tap(*args, **kwargs)
            except Exception:
                self.remove(tap)
                log.exception("%s: a tap raised and was taken off (taps only watch): %r", self.what, tap)
