"""What the flight recorder's window costs in memory: what it keeps is no larger than it needs."""

from __future__ import annotations

import tracemalloc

from .conftest import Ctl, ctl_of

REPLIES = 200
#: A configuration request and its reply as the PEP-WS ring keeps them, their texts and entries
#: (tuple, time, length), with the statuses and the rest meanwhile: about 790 bytes measured.
PER_EXCHANGE = 1000


async def test_the_pecc_s_replies_are_kept_in_buffers_of_their_own_length(ctl: Ctl) -> None:
    """orjson's bytes sit in a 4 KiB buffer whatever their length: kept as they come, 200 replies
    held for the window took 0.8 MB more than their text."""
    await ctl.settled()
    secc = await ctl.secc()
    flight = ctl_of(ctl.runtime).flight
    await secc.ok("configuration")
    tracemalloc.start()
    try:
        before, kept = tracemalloc.get_traced_memory()[0], len(flight.frames)
        for _ in range(REPLIES):
            await secc.ok("configuration")
        grown, exchanges = tracemalloc.get_traced_memory()[0] - before, (len(flight.frames) - kept) // 2
    finally:
        tracemalloc.stop()
    assert exchanges >= REPLIES  # all of them in the window (the statuses meanwhile too)
    assert grown < REPLIES * PER_EXCHANGE, f"{grown / exchanges:.0f} bytes an exchange"
    await secc.close()
