"""The two load processes of ``ops_bench --overload``: SECCs charging, and HTTP clients of the ops server.

    python -m benchmarks.opsload secc URL... --warmup 60 --window 20 --ready ready --out secc.json
    python -m benchmarks.opsload http API --window 20 --scrapers 16 --readers 8 --streams 50 --out http.json

``secc``: the SECC simulator charging on every URL (at time scale 1 a
session outlasts the run; a failed one is tried again on the same
connection), each gun with its own counters: after the warm-up (until
every gun charges, ``--warmup`` seconds at most; ``--ready`` is written
then), over the window, every status interval of every gun (its longest
gap and how many statuses arrived).

``http``: ``--scrapers`` clients fetching ``/metrics`` back to back,
``--readers`` fetching ``/api/events?limit=10000`` back to back, and
``--streams`` dashboard streams (``/api/live``) that send their request and
never read a byte. Reports the answers by status, and how many streams the
server accepted, refused (503) and closed (dropped: reset, or closed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from pecc_core.asyncutil import poll_until
from pecc_plugins.seccsim import scenario as scenarios
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats

#: Linux TCP states (include/net/tcp_states.h) a never-read stream can be found in.
TCP_STATES = {1: "established", 7: "closed", 8: "close_wait"}


async def seccs(urls: list[str], warmup: float, window: float, ready: asyncio.Event | None = None) -> dict[str, Any]:
    """Charge on every URL; each gun's status intervals within the window.

    The warm-up ends as soon as every gun charges, after ``warmup`` seconds
    at most (a loaded machine takes longer through cable check and
    precharge); then ``ready`` is set and the window starts.
    """
    per_gun = {url: RunStats() for url in urls}
    options = RunOptions(sessions=10**6, session=SessionOptions(time_scale=1.0))
    car = scenarios.load(None)
    stop = asyncio.Event()
    runs = [asyncio.create_task(simulate([url], car, options, stats, stop)) for url, stats in per_gun.items()]
    await poll_until(lambda: _charging(per_gun.values()) == len(urls), warmup, 0.1)
    charging_before = _charging(per_gun.values())
    for stats in per_gun.values():
        stats.status_intervals.clear()
    if ready is not None:
        ready.set()
    await asyncio.sleep(window)
    intervals = {url: list(stats.status_intervals) for url, stats in per_gun.items()}
    charging_after = _charging(per_gun.values())
    stop.set()
    await asyncio.gather(*runs, return_exceptions=True)
    return {
        "guns": len(urls),
        "charging_at_window_start": charging_before,
        "charging_at_window_end": charging_after,
        "max_gap_ms": {url: 1000 * max(found, default=float("inf")) for url, found in intervals.items()},
        "statuses": {url: len(found) for url, found in intervals.items()},
        "sessions_failed": sum(s.sessions_failed for s in per_gun.values()),
        "failures": [f for s in per_gun.values() for f in s.failures][:20],
    }


async def _seccs_signalling(urls: list[str], warmup: float, window: float, ready_file: Path | None) -> dict[str, Any]:
    """:func:`seccs`, writing ``ready_file`` when the window starts (for the process that times the load)."""
    ready = asyncio.Event()
    run = asyncio.create_task(seccs(urls, warmup, window, ready))
    await ready.wait()
    if ready_file is not None:
        ready_file.write_text("window\n")
    return await run


def _charging(stats: Iterable[RunStats]) -> int:
    """How many guns charge now: in the charge phase with current flowing (a cable check's test current is not)."""
    return sum(1 for s in stats for gun in s.guns if gun.state == "charge" and gun.current > 1.0)


async def _fetch_forever(session: aiohttp.ClientSession, url: str, until: float, counts: Counter[str]) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        try:
            async with session.get(url) as answer:
                await answer.read()
                counts[str(answer.status)] += 1
        except (aiohttp.ClientError, OSError) as exc:
            counts[type(exc).__name__] += 1
            await asyncio.sleep(0.05)


def _never_reading_stream(host: str, port: int) -> socket.socket:
    """A dashboard stream whose client sends its request and never reads: small buffers, as a stuck browser."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, port))
    sock.sendall(f"GET /api/live HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode())
    return sock


def _answer_status(sock: socket.socket) -> str:
    """The stream's HTTP status, peeked (nothing is taken out of the socket)."""
    try:
        head = sock.recv(12, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return "none"
    return head[9:12].decode() if head.startswith(b"HTTP/1.1 ") else "none"


def _tcp_state(sock: socket.socket) -> str:
    state = struct.unpack("B", sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1))[0]
    return TCP_STATES.get(state, str(state))


async def http_load(api: str, window: float, scrapers: int, readers: int, streams: int) -> dict[str, Any]:
    parts = urlsplit(api)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    opened = [_never_reading_stream(host, port) for _ in range(streams)]
    await asyncio.sleep(1.0)
    answered = Counter(_answer_status(s) for s in opened)
    scrapes: Counter[str] = Counter()
    reads: Counter[str] = Counter()
    until = asyncio.get_running_loop().time() + window
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            *(_fetch_forever(session, f"{api}/metrics", until, scrapes) for _ in range(scrapers)),
            *(_fetch_forever(session, f"{api}/api/events?limit=10000", until, reads) for _ in range(readers)),
        )
    states = Counter(_tcp_state(s) for s in opened)
    for sock in opened:
        sock.close()
    return {"scrapes": dict(scrapes), "event_reads": dict(reads), "streams_answered": dict(answered),
            "streams_at_end": dict(states)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    secc = commands.add_parser("secc")
    secc.add_argument("urls", nargs="+")
    secc.add_argument("--warmup", type=float, required=True)
    secc.add_argument("--window", type=float, required=True)
    secc.add_argument("--ready", type=Path, help="written when every gun charges and the window starts")
    secc.add_argument("--out", type=Path, required=True)
    http = commands.add_parser("http")
    http.add_argument("api")
    http.add_argument("--window", type=float, required=True)
    http.add_argument("--scrapers", type=int, default=16)
    http.add_argument("--readers", type=int, default=8)
    http.add_argument("--streams", type=int, default=50)
    http.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.monotonic()
    if args.command == "secc":
        result = asyncio.run(_seccs_signalling(args.urls, args.warmup, args.window, args.ready))
    else:
        result = asyncio.run(http_load(args.api, args.window, args.scrapers, args.readers, args.streams))
    args.out.write_text(json.dumps({"wall_s": time.monotonic() - started, **result}))


if __name__ == "__main__":
    main()
