"""The flight recorder's CAN ring: the frames of the window, in order, in flat arrays."""

from __future__ import annotations

import sys
from unittest import mock

from hypothesis import given
from hypothesis import strategies as st

from pecc_plugins.ctl.canring import CanRing

Frame = tuple[float, bool, int, bool, bytes, int]

frames = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.0, 0.001, 0.25, 0.7, 3.0]),  # after the frame before (often at once)
        st.booleans(),
        st.integers(0, 0x1FFFFFFF),
        st.booleans(),
        st.binary(max_size=64),  # classic CAN's 8 bytes, CAN FD's 64
        st.integers(0, 14),
    ),
    max_size=300,
)


@given(frames, st.sampled_from([0.5, 1.0, 33.0]), st.integers(1, 40))
def test_the_ring_keeps_exactly_the_frames_of_the_window_in_order(
    steps: list[Frame], keep_s: float, max_entries: int
) -> None:
    """After every frame: those not older than ``keep_s`` before it, the last ``max_entries`` of them."""
    ring = CanRing(keep_s, max_entries)
    sent: list[Frame] = []
    t = 100.0
    with mock.patch("pecc_plugins.ctl.canring.COMPACT_AT", 3):  # the dropped frames moved out often
        for step, received, arbitration_id, extended, data, channel in steps:
            t += step
            frame = (t, received, arbitration_id, extended, data, channel)
            ring.add(*frame[:4], bytearray(data), channel)  # the data as can.Message holds it
            sent.append(frame)
            window = [f for f in sent if f[0] >= t - keep_s][-max_entries:]
            assert list(ring.copy()) == window and len(ring) == len(window) == len(ring.copy())


def test_a_copy_does_not_change_with_the_ring() -> None:
    ring = CanRing(1.0, 100)
    ring.add(0.0, True, 0x123, False, b"\x01\x02", 0)
    copy = ring.copy()
    for n in range(10_000):  # the first frame long gone, the arrays moved
        ring.add(1.0 + n * 0.01, False, n, True, bytes(8), 3)
    assert list(copy) == [(0.0, True, 0x123, False, b"\x01\x02", 0)]


def test_a_full_window_costs_24_to_52_bytes_a_frame() -> None:
    """A bus at 2,000 frames a second, for 33 s and then 167 more: 24 bytes a frame kept, and the
    frames dropped but not yet moved out (as many as those kept at most), and the arrays' spare room."""
    ring = CanRing(33.0, 400_000)
    sizes = []
    for n in range(400_000):
        ring.add(n / 2000, n % 2 == 0, 0x02204000 + n % 48, True, bytes(8), n % 15)
        if n >= 66_000 and n % 100 == 0:
            assert len(ring) in (66_000, 66_001)  # 33 s (both ends, as the rounding of the times goes)
            sizes.append(sys.getsizeof(ring) / len(ring))
    assert 24 < min(sizes) < 27 and max(sizes) < 52  # a tuple of it took about 200
