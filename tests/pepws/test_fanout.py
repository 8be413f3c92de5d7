"""Status fan-out on the largest standard station: 72 guns, 72 SECC connections.

On virtual time this checks the schedule exactly: every gun's status
comes every 200 ms (PEP_STATUS_UPDATE_INTERVAL, PROTOCOL.md), and the 72
guns fall due on 72 different instants of the period, not all in one
loop turn. What 72 guns cost the CPU in real time is the benchmarks'
business (``benchmarks.stations``).
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from pecc_core.testing import heavy

from .conftest import StartPecc

STATUS_PERIOD_S = 0.200
#: The virtual loop clock's resolution (looptime: 1 µs): timers land on it.
CLOCK_TICK_S = 1e-6


@heavy
async def test_72_guns_get_their_status_every_200_ms(start_pecc: StartPecc) -> None:
    pecc = await start_pecc(source="sim-full")
    guns = sorted(pecc.station.guns)
    assert len(guns) == 72
    clients = []
    for first in range(0, 72, 12):  # one SECC's guns at a time, as six SECCs booting
        clients += await asyncio.gather(*(pecc.connect(g) for g in guns[first:first + 12]))
    await asyncio.sleep(STATUS_PERIOD_S)  # every connection past its first (shorter) period
    loop = asyncio.get_running_loop()
    since, cpu, wall = loop.time(), time.process_time(), time.perf_counter()
    await asyncio.sleep(2.0)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    periods = [c.status_periods(since) for c in clients]
    print(
        f"72 guns: median period {1000 * statistics.median(p for ps in periods for p in ps):.3f} ms; "
        f"2 s of virtual time took {wall:.2f} s and {cpu:.2f} s of CPU (station, 72 test clients, schema checks)"
    )
    for client, gun_periods in zip(clients, periods, strict=True):
        assert len(gun_periods) >= 9, client
        assert gun_periods == pytest.approx([STATUS_PERIOD_S] * len(gun_periods), abs=CLOCK_TICK_S)
    # each gun on its own slot of the loop clock's 200 ms grid, the 72 slots spread evenly
    # over the period (shifted by half a slot, so that none sits on the modulo's wrap)
    slot = STATUS_PERIOD_S / 72
    phases = sorted((c.statuses[-1][0] + slot / 2) % STATUS_PERIOD_S for c in clients)
    assert phases == pytest.approx([(i + 0.5) * slot for i in range(72)], abs=CLOCK_TICK_S)
