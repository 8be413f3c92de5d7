"""The one place PECC reads the wall clock.

Every timer, timeout, stale bound and rate in PECC reads the event loop's
clock (``loop.time()``, ``asyncio.sleep``, ``asyncio.timeout``,
``call_at``): the same code then runs on virtual time in the tests, where
a busy machine cannot make a module look silent. Wall time is meant only
where a person or another machine reads a date: a history row, a
certificate's validity, a message's expiry between processes. Such code
calls :func:`wall`, so a reader finds every use of it here.
"""

from __future__ import annotations

import time


def wall() -> float:
    """Seconds since the epoch (UTC): a date, never a duration on the loop."""
    return time.time()


def stopwatch() -> float:
    """A high-resolution counter for measuring how long the code itself took (a latency metric).

    Not a timer: nothing waits on it, so it stays real time in the tests too.
    """
    return time.perf_counter()
