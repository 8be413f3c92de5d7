"""What TLS costs PEP-WS: handshake time, and reply latency at 72 guns, ``ws://`` against ``wss://``.

For each of ``ws://`` and ``wss://`` with mutual TLS (certificates from
``pecc tls init``, each SECC allowed only its own), a real ``pecc run`` on
the 72-gun ``sim-full`` profile:

1. **handshakes**: ``--handshakes`` connections one after the other to one
   gun (TCP + TLS + WebSocket, until the PECC's first status arrives),
   each closed before the next;
2. **protocol load**: the load generator (:mod:`benchmarks.loadgen`), all
   72 guns sending targetValues at 10 Hz: request -> reply latency.

    python -m benchmarks.tls_bench [--handshakes 200] [--duration 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.markdown import md_table
from benchmarks.run import Server, protocol_load
from benchmarks.stations import gun_urls, station
from pecc_core.labca import init
from pecc_core.profile import load
from pecc_plugins.seccsim.ports import free_port
from pecc_plugins.seccsim.tls import client_context

PY = sys.executable


async def handshakes(url: str, count: int, tls: Any) -> list[float]:
    """Seconds from connect() to the first status, ``count`` times in a row."""
    times = []
    for _ in range(count):  # the same SECC reconnecting: each replaces the last
        began = time.perf_counter()
        async with connect(url, subprotocols=["pep1.5"], ssl=tls, compression=None, proxy=None) as ws:
            await ws.recv()
            times.append(time.perf_counter() - began)
    return times


def measure(scheme: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    work.mkdir()
    port = free_port()
    profile = station(72, work, port, f"tls-bench-{os.getpid()}-{scheme}")
    tls = None
    extra: tuple[str, ...] = ()
    if scheme == "wss":
        certs = work / "certs"
        profile = init(load(str(profile)), certs).profile
        tls = client_context(certs / "ca.pem", certs / "secc1.pem", certs / "secc1.key")
        extra = ("--profile", str(profile), "--certs", str(certs))
    server = Server.spawn([PY, "-m", "pecc_core.cli", "run", "--profile", str(profile)], port, work / f"{scheme}.log")
    try:
        urls = [u.replace("ws://", f"{scheme}://", 1) for u in gun_urls(profile, port)]
        times = asyncio.run(handshakes(urls[0], args.handshakes, tls))
        load_report = protocol_load(server, urls, work, scheme, args, extra)
    finally:
        if server.proc.poll() is None:
            server.stop()
    ordered = sorted(times)
    return {
        "scheme": scheme,
        "handshake_p50_ms": 1000 * statistics.median(ordered),
        "handshake_p99_ms": 1000 * ordered[int(0.99 * (len(ordered) - 1))],
        "reply_p50_ms": load_report["latency"]["targetValues"]["p50_ms"],
        "reply_p99_ms": load_report["latency"]["targetValues"]["p99_ms"],
        "server_cpu": load_report["server_cpu_percent"],
        "errors": load_report["protocol_errors"] + load_report["sessions_failed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handshakes", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    args = parser.parse_args()
    args.rate, args.warmup = 10.0, 3.0
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(scheme, Path(tmp) / scheme, args) for scheme in ("ws", "wss")]
    print("\n".join(md_table(
        ["", "handshake p50 ms", "handshake p99 ms", "72 guns reply p50 ms", "reply p99 ms", "server CPU %",
         "errors"],
        [[r["scheme"], f"{r['handshake_p50_ms']:.2f}", f"{r['handshake_p99_ms']:.2f}", f"{r['reply_p50_ms']:.2f}",
          f"{r['reply_p99_ms']:.2f}", f"{r['server_cpu']:.0f}", str(r["errors"])] for r in rows],
    )))


if __name__ == "__main__":
    main()
