"""Status fan-out on the largest standard station: 72 guns, 72 SECC connections."""

from __future__ import annotations

import asyncio
import statistics
import time

from pecc_core.testing import heavy

from .conftest import StartPecc


@heavy
async def test_72_guns_get_their_status_every_200_ms(start_pecc: StartPecc) -> None:
    # The handshakes are not what this measures: on a machine busy with other test runs 72
    # mutual-TLS handshakes at once outlast the 3 s server bound, so one SECC's guns at a time
    # (as six SECCs booting), each with time to spare.
    pecc = await start_pecc({"server.handshake_timeout_ms": 30_000}, source="sim-full")
    guns = sorted(pecc.station.guns)
    assert len(guns) == 72
    clients = []
    for first in range(0, 72, 12):
        clients += await asyncio.gather(*(pecc.connect(g, open_timeout=60) for g in guns[first:first + 12]))
    await asyncio.sleep(0.3)  # every connection open and sending
    loop = asyncio.get_running_loop()
    since, cpu = loop.time(), time.process_time()
    await asyncio.sleep(2.0)
    cpu = time.process_time() - cpu
    medians = [statistics.median(c.status_periods(since)) for c in clients]
    periods = sorted(p for c in clients for p in c.status_periods(since))
    p99 = periods[int(len(periods) * 0.99)]
    print(
        f"72 guns: median of per-gun median periods {1000 * statistics.median(medians):.1f} ms, "
        f"p99 {1000 * p99:.1f} ms, max {1000 * periods[-1]:.1f} ms; "
        f"process CPU {100 * cpu / 2.0:.0f}% (station, 72 test clients and their schema checks)"
    )
    assert all(0.150 <= m <= 0.250 for m in medians)
    assert periods[-1] < 0.8  # loose: a loaded CI machine must not make this flaky
