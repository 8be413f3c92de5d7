"""The attacker process: connections that send in-spec 64 KiB frames built to be expensive.

Each connection sends, back to back, a ``getInput`` request whose
``inputIdentifiers`` is as long as a 64 KiB frame allows and wrong at every
item (an int, an empty list, an empty object: three shapes, one per
connection in turn), reading the error replies as they come. A PECC that
validates item by item, or keeps what it parsed, pays for every item; one
that stops at the first failure pays for the parse.

    python -m benchmarks.attack URLS_FILE --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

#: The default ``server.max_frame_bytes``.
FRAME_BYTES = 64 * 1024
SHAPES = (1, [], {})


def hostile_frame(item: object, limit: int = FRAME_BYTES) -> str:
    """A getInput request of as many ``item`` identifiers as fit in ``limit`` bytes."""
    message = {"type": "request", "kind": "getInput", "sequenceNumber": 7, "payload": {"inputIdentifiers": []}}
    per_item = len(json.dumps(item, separators=(",", ":"))) + 1
    count = (limit - len(json.dumps(message, separators=(",", ":")))) // per_item
    message["payload"]["inputIdentifiers"] = [item] * count  # type: ignore[index]
    return json.dumps(message, separators=(",", ":"))


async def attacker(url: str, frame: str, stop: float) -> tuple[int, int]:
    """Send ``frame`` until the loop time ``stop``; (frames sent, error replies read)."""
    ws: ClientConnection = await connect(url, subprotocols=["pep1.5"], compression=None, max_size=None)
    replies = 0

    async def read() -> None:
        nonlocal replies
        with contextlib.suppress(Exception):
            async for message in ws:  # error replies, and the gun's statuses
                replies += '"type":"error"' in str(message)

    reader = asyncio.create_task(read())
    loop = asyncio.get_running_loop()
    sent = 0
    with contextlib.suppress(Exception):
        while loop.time() < stop:
            await ws.send(frame)
            sent += 1
            await asyncio.sleep(0)
    await ws.close()
    await reader
    return sent, replies


async def run(urls: list[str], duration: float) -> tuple[int, int]:
    frames = [hostile_frame(shape) for shape in SHAPES]
    stop = asyncio.get_running_loop().time() + duration
    results = await asyncio.gather(*(attacker(u, frames[i % len(frames)], stop) for i, u in enumerate(urls)))
    return sum(s for s, _ in results), sum(r for _, r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("urls_file", type=Path)
    parser.add_argument("--duration", type=float, default=20.0)
    args = parser.parse_args()
    sent, replies = asyncio.run(run(args.urls_file.read_text().split(), args.duration))
    print(json.dumps({"frames_sent": sent, "replies": replies}))


if __name__ == "__main__":
    main()
