"""The load generator process: every gun sends targetValues at a fixed rate.

Built on the SECC simulator's client (:class:`PepClient`: one pending
request, 500 ms timeout, every frame validated with the PEP-WS schemas,
status intervals recorded). Each gun connects, asks for the configuration
and then sends ``targetValues`` (chargingState ``standby``, 0 V, 0 A) at
``--rate`` Hz, tick phases spread over the period so the guns do not all
fire in the same millisecond. A PECC answers such a request without
driving anything (the gun is in standby): what is measured is the request
path (transport, validation, state machine) and the status fan-out, which
is what scales with the number of guns. Charging load is measured with
``pecc secc-sim`` itself (see run.py).

Prints ``MEASURING`` when the warm-up is over and ``DONE`` at the end, so
the caller can sample the server's CPU over the same window; the JSON
report covers the measuring window only.

    python -m benchmarks.loadgen URLS_FILE --rate 10 --warmup 3 --duration 20 --report out.json

Several of these share a large station's guns (:func:`benchmarks.run.protocol_load`):
with ``--together`` each prints ``READY`` once its guns are connected and
starts its warm-up when a line arrives on its stdin, so that their windows
coincide; ``--raw`` puts every latency and status interval in the report,
for the caller to take the percentiles over all of them.

``wss://`` URLs with mutual TLS: ``--profile P --certs DIR`` (what ``pecc tls
init`` wrote), each gun presenting its SECC's certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import ssl
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from websockets.asyncio.client import connect

from pecc_core.asyncutil import run as run_loop
from pecc_plugins.seccsim.client import ConnectionLost, PepClient, RequestFailed
from pecc_plugins.seccsim.runner import SUBPROTOCOL
from pecc_plugins.seccsim.session import Ticker
from pecc_plugins.seccsim.stats import RunStats
from pecc_plugins.seccsim.tls import contexts

STANDBY_TARGET = {
    "targetVoltage": 0,
    "targetCurrent": 0,
    "batteryStateOfCharge": 50,
    "chargingState": "standby",
}


async def gun(
    url: str,
    stats: RunStats,
    rate: float,
    start: asyncio.Event,
    stop_at: list[float],
    handshakes: asyncio.Semaphore,
    tls: ssl.SSLContext | None,
) -> None:
    progress = stats.add_gun(url)
    async with handshakes:
        ws = await connect(
            url, subprotocols=[SUBPROTOCOL], compression=None, ping_interval=None, proxy=None, open_timeout=60,
            ssl=tls,
        )
    client = PepClient(ws, progress, stats)
    receiver = asyncio.create_task(client.receive())
    try:
        await client.request("configuration", {})
        await start.wait()
        await asyncio.sleep(random.random() / rate)
        ticker = Ticker(1 / rate)
        while time.monotonic() < stop_at[0]:
            with contextlib.suppress(RequestFailed):  # counted by the client
                await client.request("targetValues", STANDBY_TARGET)
            await ticker.wait()
    except (ConnectionLost, RequestFailed) as exc:
        stats.session_failed(progress, str(exc))
    finally:
        await ws.close()
        await receiver


async def run(
    urls: list[str], rate: float, warmup: float, duration: float, tls: Mapping[str, ssl.SSLContext],
    together: bool = False,
) -> tuple[RunStats, float, float]:
    stats = RunStats()
    start = asyncio.Event()
    stop_at = [float("inf")]
    handshakes = asyncio.Semaphore(50)
    tasks = [asyncio.create_task(gun(u, stats, rate, start, stop_at, handshakes, tls.get(u))) for u in urls]
    while len(stats.latency.get("configuration", ())) + stats.sessions_failed < len(urls):
        await asyncio.sleep(0.1)
    if together:
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the caller's go, to every load generator at once
    start.set()
    await asyncio.sleep(warmup)
    stats.latency.clear()
    stats.status_intervals.clear()
    stats.sent = stats.received = 0
    errors_before = stats.error_count
    cpu0, t0 = sum(os.times()[:2]), time.monotonic()
    print("MEASURING", flush=True)
    stop_at[0] = t0 + duration
    await asyncio.gather(*tasks)
    window = time.monotonic() - t0
    cpu = 100 * (sum(os.times()[:2]) - cpu0) / window
    print("DONE", flush=True)
    stats.error_count -= errors_before  # errors during connect/warm-up are reported apart
    return stats, window, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("urls_file", type=Path)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--profile", help="wss://: the profile whose SECCs the URLs belong to")
    parser.add_argument("--certs", type=Path, help="wss://: DIR/<secc id>.pem/.key and DIR/ca.pem")
    parser.add_argument("--together", action="store_true", help="print READY, start the warm-up on a line on stdin")
    parser.add_argument("--raw", action="store_true", help="every latency and status interval in the report too")
    args = parser.parse_args()
    urls = args.urls_file.read_text().split()
    tls = {}
    if args.certs is not None:
        from pecc_plugins.seccsim.command import gun_owners

        owners = {url: secc for url, secc in gun_owners([], args.profile, None, None).items() if url in urls}
        tls = contexts(owners, None, None, None, args.certs)
    stats, window, cpu = run_loop(run(urls, args.rate, args.warmup, args.duration, tls, args.together))
    report = {"guns": len(urls), "window_s": window, "loadgen_cpu_percent": cpu, **stats.report()}
    if args.raw:
        report["raw"] = {"latency": stats.latency, "status_intervals": stats.status_intervals}
    args.report.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
