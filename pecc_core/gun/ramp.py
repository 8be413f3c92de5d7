"""The current up-ramp: rising current limited to a rate, falling current at once.

IEC 61851-23 leaves the rate to the charger; EVerest limits rising current
to 25 A/s by default (``dc_ramp_ampere_per_second``) to spare the car, the
modules and the grid. The profile sets it (``safety.ramp_a_per_s``).
"""

from __future__ import annotations


class Ramp:
    """The current a gun may drive now, given what it drove before.

    The control cycle's call (``cycle``) may raise the level by ``rate`` *
    the time since the previous climb, at most one control cycle's worth
    (``step``): a loop that ramps every cycle, as EVerest's does. Another
    call (a request, a new allowance) raises it the same way only when it
    is not already climbing: a target above a steady level starts its
    climb at once, but while the level climbs, the cycle alone steps it,
    once a cycle, not again at every request in between (each step is a
    new setpoint on every module of the gun: a ramp re-driven at every
    request too sent twice the frames for the same rise). So between any
    two moments the level rises by at most ``rate`` * (their distance +
    one cycle). The control cycle calls :meth:`limit` again while the
    level is below what is wanted (:attr:`rising`), so it climbs between
    requests; a lower wish applies at once, on any call.
    """

    __slots__ = ("_last", "_wanted", "level", "rate", "step")

    def __init__(self, rate: float, step: float) -> None:
        self.rate = rate
        self.step = step
        self.level = 0.0
        self._last: float | None = None  # loop time of the previous call that could climb
        self._wanted = 0.0

    def limit(self, wanted: float, now: float, cycle: bool = False) -> float:
        """The current to drive for ``wanted`` at loop time ``now``; remembers it.

        ``cycle``: the control cycle's call, which climbs a rising level.
        """
        climb = cycle or not self.rising
        self._wanted = wanted
        if wanted <= self.level:
            self.level = wanted
        elif climb:
            elapsed = self.step if self._last is None else min(max(now - self._last, 0.0), self.step)
            self.level = min(wanted, self.level + self.rate * elapsed)
        if climb:
            self._last = now
        return self.level

    @property
    def rising(self) -> bool:
        """True while the level is below what was last wanted (the control cycle keeps stepping it)."""
        return self.level < self._wanted
