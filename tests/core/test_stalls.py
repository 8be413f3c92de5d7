"""A starved loop is not silent hardware: the stale bound counts only the time the loop ran on time.

``pecc_core.stalls``: a control cycle that starts more than one period
late (beyond its own period) is a stall, and the time past its due start
is left out of the stale bound; the rest counts as before. Written from
the rule, not from the code's constants.
"""

from __future__ import annotations

import pytest

from pecc_core.stalls import LoopStalls

PERIOD = 0.1


def cycles(stalls: LoopStalls, *times: float) -> None:
    for now in times:
        stalls.cycle(now)


def test_on_time_the_bound_is_plain_loop_time() -> None:
    stalls = LoopStalls(PERIOD)
    cycles(stalls, *(10.0 + n * PERIOD for n in range(30)))
    assert stalls.since(12.9, 1.0) == pytest.approx(11.9)


def test_jitter_within_a_period_is_no_stall() -> None:
    stalls = LoopStalls(PERIOD)
    cycles(stalls, 10.0, 10.19, 10.25, 10.44)  # 190 ms and 190 ms apart: late, not stalled
    assert stalls.since(10.44, 1.0) == pytest.approx(9.44)


def test_a_stall_is_left_out_of_the_bound() -> None:
    stalls = LoopStalls(PERIOD)
    cycles(stalls, 10.0, 10.1, 10.8)  # the cycle due at 10.2 starts at 10.8: 0.6 s the loop did not run
    assert stalls.since(10.8, 1.0) == pytest.approx(9.2)
    # a module last heard at 10.05 was heard 0.75 s ago but only 0.15 s of on-time loop time ago
    assert stalls.since(10.8, 1.0) < 10.05
    # once the loop has run on time for the whole bound, the stall no longer counts
    cycles(stalls, *(10.8 + n * PERIOD for n in range(1, 12)))
    assert stalls.since(11.9, 1.0) == pytest.approx(10.9)


def test_every_stall_in_the_span_counts_and_a_sustained_starvation_still_reaches_the_bound() -> None:
    stalls = LoopStalls(PERIOD)
    now = 10.0
    stalls.cycle(now)
    for _ in range(10):  # every cycle 0.5 s apart: 0.4 s of each is a stall, 0.1 s ran
        now += 0.5
        stalls.cycle(now)
    # two and a half periods that ran, and the three stalls after them
    assert stalls.since(now, 0.25) == pytest.approx(now - 0.25 - 3 * 0.4)


def test_forgotten_stalls_count_as_on_time_again() -> None:
    stalls = LoopStalls(PERIOD)
    now = 0.0
    stalls.cycle(now)
    for _ in range(1000):  # far more stalls than are remembered
        now += 0.5
        stalls.cycle(now)
    # the 64 newest stalls are left out; the older ones count as on-time loop time
    assert now - stalls.since(now, 1000.0) == pytest.approx(1000.0 + 64 * 0.4)
