"""When the station's loop did not run on time: a starved loop must not read as silent modules.

The power modules' frames are read by the station's own event loop. While
that loop is starved (the machine overloaded, a callback holding it) no
frame is read however well the modules answer, and the first control cycle
after the stall would find every module unheard for longer than the stale
bound: the power stage of every charging gun lost at once.

So a module's silence is counted in the loop's *on-time* time. The control
loop notes the loop time at which each cycle starts (:meth:`LoopStalls.cycle`);
a cycle that starts more than :data:`SLACK_PERIODS` periods late is a stall,
and the time past its due start did not run. :meth:`LoopStalls.since` gives
the loop time after which a frame must have been read for a reading to be
within a bound of on-time loop time. A module is silent only when no frame
came from it while the loop ran on time for the whole bound; during a
sustained starvation the bound is still reached, counted in the periods the
loop did run.
"""

from __future__ import annotations

from collections import deque

#: How late a control cycle may start (in periods, beyond its own) before the wait counts as a stall.
SLACK_PERIODS = 1.0
#: Stalls remembered. A forgotten one counts as on-time again, which can only
#: make a module look silent sooner (as if stalls were not told apart at all).
KEPT = 64


class LoopStalls:
    """The recent stalls of one loop, as seen by a cycle of ``period`` seconds."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._late_after = period * (1.0 + SLACK_PERIODS)
        self._last: float | None = None
        #: (due, started) of each late cycle, oldest first: the loop did not run in between
        self._stalls: deque[tuple[float, float]] = deque(maxlen=KEPT)
        #: Stalls since start, and the time they took together (s): the metrics.
        self.count = 0
        self.total_s = 0.0

    def cycle(self, now: float) -> None:
        """A cycle starts at loop time ``now``."""
        last, self._last = self._last, now
        if last is not None and now - last > self._late_after:
            self._stalls.append((last + self.period, now))
            self.count += 1
            self.total_s += now - last - self.period

    def since(self, now: float, bound: float) -> float:
        """The loop time from which ``bound`` seconds of on-time loop time run up to ``now``.

        Without a stall in that span: ``now - bound``. Each stall in it moves
        the answer back by the stall's length.
        """
        cursor, remaining = now, bound
        for due, started in reversed(self._stalls):
            ran = cursor - started
            if ran >= remaining:
                break
            remaining -= max(ran, 0.0)
            cursor = min(cursor, due)
        return cursor - remaining
