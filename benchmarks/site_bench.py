"""Site power over MQTT at scale: 3 cabinets x 24 guns under SECC load, messages on the broker.

Starts Mosquitto, ``pecc site run`` and three ``pecc run`` cabinets (the
first two SECCs of ``sim-full``: 24 guns sharing 48 simulated modules
each), charges a car on every gun with the SECC simulator, and counts
what crosses the broker over a window, by kind (gun states, demands,
shares, events, coordinator state):

    python -m benchmarks.site_bench [--window 20]

Prints a markdown table (what docs/site.md records).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import tempfile
import time
import tomllib
from pathlib import Path

from pecc_core.asyncutil import cancel
from pecc_core.profile.loader import resolve
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats
from pecc_plugins.site import broker as mqtt
from tests.sitepower.broker import Mosquitto
from tests.sitepower.site_rig import Site


def kind(topic: str) -> str:
    last = topic.rsplit("/", 1)[1]
    return "coordinator state" if "/coordinator/" in topic else {"state": "gun state"}.get(last, last)


async def measure(directory: Path, window: float) -> None:
    broker = Mosquitto(directory)
    broker.start()
    site = Site(directory, broker, cap_w=600_000, safe_w=50_000)
    seccs = tomllib.loads(resolve("sim-full").read_text())["seccs"][:2]
    site.write(["north", "east", "south"], f"site-bench-{time.monotonic_ns()}", "sim-full", {"seccs": seccs})
    counts: collections.Counter[str] = collections.Counter()
    volume = 0
    try:
        await site.up()
        urls = [url for cabinet in site.cabinets for url in cabinet.urls]
        load = asyncio.create_task(simulate(urls, from_mapping({}), RunOptions(
            sessions=20, session=SessionOptions(time_scale=20), reconnect_interval=0.5), RunStats()))
        await asyncio.sleep(15)  # sessions under way
        powered = sum(1 for c in site.cabinets for g in c.get("/api/guns")["guns"] if g["power_w"] > 1000)
        async with mqtt.client(mqtt.BrokerSchema().load({"port": broker.port}), "bench") as client:
            await client.subscribe("pecc/depot/#")
            start = time.monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(window):
                    async for message in client.messages:
                        if message.retain:  # the retained backlog of the subscription, not traffic
                            continue
                        counts[kind(str(message.topic))] += 1
                        volume += len(message.payload)  # type: ignore[arg-type]
            elapsed = time.monotonic() - start
        await cancel(load)
    finally:
        site.stop()
    print(f"3 cabinets x 24 guns, {powered} guns drawing power, window {elapsed:.0f} s\n")
    print("| messages | per second |\n|---|---:|")
    for name, count in counts.most_common():
        print(f"| {name} | {count / elapsed:.1f} |")
    print(f"| **all** | **{sum(counts.values()) / elapsed:.1f}** ({volume / elapsed / 1000:.1f} kB/s) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=20.0, help="seconds to count over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        asyncio.run(measure(Path(directory), args.window))


if __name__ == "__main__":
    main()
