"""The CAN floor: the least CPU a process spends on the CAN frames the charging PECC exchanges.

The echo floor (:mod:`benchmarks.echo`) serves the PEP-WS half of the
charging benchmark's traffic and nothing else; the PECC also sends and
receives its modules' frames. This is the floor of that other half: a
process with one python-can ``unixcan`` node per bus that sends its share
of ``--tx`` frames a second, evenly spaced, and reads every frame that
arrives from a loop reader (``loop.add_reader`` on the bus's file
descriptor, ``bus.recv(0)`` until nothing is left), against a peer process
that hosts the hubs and answers every frame with one, as a module answers
a poll, plus ``--extra`` frames a second of its own. Nothing is decoded,
scheduled or recorded: python-can and the system calls only, on uvloop.
Its CPU (this process's, over the window) added to the echo floor's is the
I/O floor the charging PECC is compared with (``CPU / I/O floor`` in
:mod:`benchmarks.run`).

    python -m benchmarks.canfloor --buses 16 --tx 700 --extra 0 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import can

from pecc_core.asyncutil import run
from pecc_plugins.canbus.unixbus import BusHub

#: The senders' tick: each sends what its rate allows since the last one. A CAN
#: bus paces its frames (a frame is 1 ms on a 125 kbit/s wire), so they are not
#: sent in one burst a cycle; on this VM a wake-up after 10 ms idle costs about
#: 120 us of CPU, which the PECC pays as well.
TICK_S = 0.01
WARMUP_S = 2.0


def channels(directory: Path, buses: int) -> list[str]:
    return [str(directory / f"can{i + 1}.sock") for i in range(buses)]


def _frame(index: int) -> can.Message:
    return can.Message(arbitration_id=0x1800_0000 + index % 0x100, data=bytes(8), is_extended_id=True)


def _drain(bus: can.BusABC, counts: list[int]) -> None:
    while bus.recv(0) is not None:
        counts[0] += 1


async def _send_evenly(nodes: list[can.BusABC], rate: float, sent: list[int]) -> None:
    """``rate`` frames a second in all, round robin over ``nodes``, every :data:`TICK_S`."""
    if rate <= 0.0:
        return
    loop = asyncio.get_running_loop()
    start, index = loop.time(), 0
    while True:
        await asyncio.sleep(TICK_S)
        due = int((loop.time() - start) * rate)
        while index < due:
            nodes[index % len(nodes)].send(_frame(index))
            index += 1
            sent[0] += 1


async def peer(directory: Path, buses: int, extra: float) -> None:
    """The hubs, and on each a node that answers every frame with one; ``extra`` frames a second besides."""
    hubs = [BusHub(path) for path in channels(directory, buses)]
    for hub in hubs:
        await hub.start()
    nodes = [can.Bus(interface="unixcan", channel=path) for path in channels(directory, buses)]
    loop = asyncio.get_running_loop()
    for node in nodes:
        loop.add_reader(node.fileno(), _answer, node)
    print("ready", flush=True)
    await _send_evenly(nodes, extra, [0])  # returns at once without extra frames
    await asyncio.Event().wait()  # until terminated


def _answer(node: can.BusABC) -> None:
    while (msg := node.recv(0)) is not None:
        node.send(msg)


async def floor(directory: Path, buses: int, tx: float, seconds: float) -> dict[str, float]:
    nodes = [can.Bus(interface="unixcan", channel=path) for path in channels(directory, buses)]
    loop = asyncio.get_running_loop()
    received, sent = [0], [0]
    for node in nodes:
        loop.add_reader(node.fileno(), _drain, node, received)
    sender = loop.create_task(_send_evenly(nodes, tx, sent))
    await asyncio.sleep(WARMUP_S)
    cpu, wall, got, put = time.process_time(), time.monotonic(), received[0], sent[0]
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    sender.cancel()
    for node in nodes:
        loop.remove_reader(node.fileno())
        node.shutdown()
    return {
        "cpu_percent": 100 * cpu / wall,
        "sent_per_s": (sent[0] - put) / wall,
        "received_per_s": (received[0] - got) / wall,
    }


def measure(buses: int, tx: float, extra: float, seconds: float) -> dict[str, float]:
    """The floor's figures, with its peer in a process of its own."""
    with tempfile.TemporaryDirectory(prefix="pecc-canfloor-") as tmp:
        directory = Path(tmp)
        command = [sys.executable, "-m", "benchmarks.canfloor", "--peer", "--dir", tmp, "--buses", str(buses)]
        with subprocess.Popen(
            [*command, "--extra", str(extra)], stdout=subprocess.PIPE, text=True
        ) as hubs:
            try:
                if hubs.stdout is None or hubs.stdout.readline().strip() != "ready":
                    raise RuntimeError("the CAN floor's peer did not start")
                return run(floor(directory, buses, tx, seconds))  # uvloop, as the PECC and the echo floor
            finally:
                hubs.terminate()


def can_counters(base: str) -> dict[str, float]:
    """The CAN and status-interval counters of a running PECC's ``/metrics`` (``base``: the API's root URL)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    wanted = ("pecc_can_frames_", "pecc_transport_status_interval_seconds_bucket")
    return {name: float(value) for name, value in (line.rsplit(" ", 1) for line in text.splitlines()
                                                   if line.startswith(wanted))}


def frames(base: str) -> tuple[int, float, float]:
    """A running PECC's buses, and the frames it sent and received so far on all of them."""
    counters = can_counters(base)
    sent = [v for k, v in counters.items() if k.startswith("pecc_can_frames_sent_total")]
    received = sum(v for k, v in counters.items() if k.startswith("pecc_can_frames_received_total"))
    return len(sent), sum(sent), received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buses", type=int, default=16)
    parser.add_argument("--tx", type=float, default=700.0, help="frames a second the floor sends, all buses")
    parser.add_argument("--extra", type=float, default=0.0, help="frames a second the peer sends unasked")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        run(peer(args.dir, args.buses, args.extra))
        return
    print(json.dumps(measure(args.buses, args.tx, args.extra, args.seconds)))


if __name__ == "__main__":
    main()
