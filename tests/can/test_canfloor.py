"""The CAN floor of the charging benchmark: the frames it is asked for, each answered, and its peer's own."""

from __future__ import annotations

import pytest

from benchmarks import canfloor


@pytest.mark.system("real processes and real time: the floor's peer hosts the hubs in a process of its own")
def test_the_floor_sends_its_rate_and_hears_every_answer_and_the_extra_frames() -> None:
    figures = canfloor.measure(buses=3, tx=60.0, extra=30.0, seconds=2.0)
    assert figures["sent_per_s"] == pytest.approx(60.0, rel=0.25)
    assert figures["received_per_s"] == pytest.approx(90.0, rel=0.25)  # an answer to each, and 30 of the peer's
    assert 0.0 < figures["cpu_percent"] < 100.0
