"""Hypothesis throws arbitrary frames at one gun; the server must hold.

The station runs on its own loop in a background thread, so that
hypothesis (synchronous) drives a blocking websockets client against it.
After every frame a sentinel request is sent: the replies that arrive
before the sentinel's are the replies to the frame, so "exactly one reply to
anything that could be a request, none to infos/responses/errors" is
checked without timing. Meanwhile a watcher on another gun records its
status messages, whose period must not suffer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import statistics
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as sync_connect

from pecc_core.plugins import default_manager
from pecc_core.runtime import Runtime
from pecc_plugins.pepws import schemas

from .conftest import OFFICIAL, sim_profile
from .helpers import PepClient

SENTINEL_SEQS = itertools.count(1_234_567_000)

KINDS = [*schemas.REQUEST_KINDS, *schemas.INFO_KINDS, "error", "", "Reset", "vendorThing"]
FIELDS = [
    "voltage", "targetVoltage", "targetCurrent", "batteryStateOfCharge", "chargingState",
    "contactorsStatus", "inputIdentifiers", "outputValues", "inputValues", "evConnectionState",
    "vehicleId", "evMaxVoltageVolts", "evMaxDischargePowerWatts", "chargeMode", "eventDetails",
    "errorCategory", "errorDetails",
]
WORDS = ["open", "closed", "charge", "preCharge", "standby", "postCharge", "connected", "dynamic", "value", "format"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
plausible = (
    st.floats(-10, 2000, allow_nan=False) | st.integers(-5, 1000) | st.sampled_from(WORDS)
    | st.lists(st.text(max_size=3), max_size=3) | json_values
)
payloads = st.dictionaries(st.sampled_from(FIELDS), plausible, max_size=5) | json_values
messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["request", "response", "error", "info", "Request"]) | json_values,
        "kind": st.sampled_from(KINDS) | json_values,
        "sequenceNumber": st.integers(-3, 2**31 + 3) | st.floats(-1, 2**31 + 1) | json_values,
        "payload": payloads,
    },
)
frames = st.one_of(
    messages.map(json.dumps),
    messages.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=60),
    st.binary(max_size=200),
)


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def expected_replies(frame: str | bytes) -> tuple[int, int | None]:
    """How many replies a frame must get (0 or 1) and the sequenceNumber of that reply."""
    if isinstance(frame, bytes):
        return 1, 0
    try:
        message = json.loads(frame, parse_constant=_not_json)
    except ValueError:
        return 1, 0
    if not isinstance(message, dict):
        return 1, 0
    if message.get("type") in ("info", "response", "error"):
        return 0, None
    seq = message.get("sequenceNumber")
    if isinstance(seq, float) and seq.is_integer():
        seq = int(seq)
    valid = isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq <= 2**31 - 1
    return 1, seq if valid else 0


@dataclass
class Background:
    """A station on its own loop and thread, with a status watcher on gun 1-2."""

    loop: asyncio.AbstractEventLoop
    port: int
    watcher: PepClient

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@pytest.fixture(scope="module")
def background(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="pecc-under-fuzz", daemon=True)
    thread.start()
    plugins = default_manager()
    profile = sim_profile(tmp_path_factory.mktemp("fuzz"), f"pecc-fuzz-{os.getpid()}", plugins=plugins)
    runtime = Runtime(profile, plugins)

    async def start() -> PepClient:
        await runtime.start()
        ws = await connect(f"ws://127.0.0.1:{runtime.transport.port}/secc1/gun2", subprotocols=["pep1.5"])
        return PepClient(ws, OFFICIAL)

    bg = Background(loop, 0, None)  # type: ignore[arg-type]
    bg.watcher = bg.run(start())
    bg.port = runtime.transport.port
    yield bg
    bg.run(bg.watcher.close())
    bg.run(runtime.stop())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class Fuzzer:
    """The blocking client on gun 1-1 and the bookkeeping of what it received."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.problems: list[str] = []
        self.frames = 0

    def exchange(self, frame: str | bytes) -> list[dict[str, Any]]:
        """Send ``frame`` then a sentinel; the replies received before the sentinel's."""
        self.frames += 1
        sentinel = next(SENTINEL_SEQS)
        self.ws.send(frame)
        self.ws.send(json.dumps({"type": "request", "kind": "configuration", "sequenceNumber": sentinel, "payload": {}}))
        replies = []
        while True:
            text = self.ws.recv(timeout=5)
            message = json.loads(text)
            if OFFICIAL is not None:
                self.problems.extend(f"{p} in {text}" for p in OFFICIAL.problems(message))
            if message.get("type") not in ("response", "error"):
                continue
            if message.get("sequenceNumber") == sentinel and message["type"] == "response":
                return replies
            replies.append(message)


@pytest.fixture(scope="module")
def fuzzer(background: Background) -> Iterator[Fuzzer]:
    with sync_connect(f"ws://127.0.0.1:{background.port}/secc1/gun1", subprotocols=["pep1.5"]) as ws:
        yield Fuzzer(ws)


# The station's thread runs meanwhile, and websockets draws its keepalive pings'
# payloads from the global ``random``: hypothesis sees the global state move
# during a draw, which here says nothing about the strategies.
@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames)
def test_arbitrary_frames_always_get_a_valid_answer(fuzzer: Fuzzer, frame: str | bytes) -> None:
    count, seq = expected_replies(frame)
    replies = fuzzer.exchange(frame)
    assert len(replies) == count, (frame, replies)
    if count:
        assert replies[0]["sequenceNumber"] == seq
    assert not fuzzer.problems, fuzzer.problems[:5]


@pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")
@pytest.mark.system("hypothesis drives a station in its own thread on the wall clock; its status periods are timed")
def test_other_guns_kept_their_status_and_the_fuzzed_gun_still_works(
    background: Background, fuzzer: Fuzzer
) -> None:
    """After the fuzzing: run by the fuzz test first (same module, declared after it), or here."""
    if fuzzer.frames < 100:  # run alone, or before the fuzz test (a parallel run may order them so)
        test_arbitrary_frames_always_get_a_valid_answer(fuzzer=fuzzer)
    periods = background.watcher.status_periods()
    assert fuzzer.frames >= 100
    median, worst = statistics.median(periods), max(periods)
    print(f"fuzzed {fuzzer.frames} frames; gun 1-2 status over {len(periods)} periods: "
          f"median {1000 * median:.1f} ms, max {1000 * worst:.1f} ms")
    assert 0.150 <= median <= 0.300
    # loose: two suites on two cores stall a loop for a second now and then; a gun held up
    # by another's frames would miss its statuses for the whole fuzzing
    assert worst < 2.5
    assert not background.watcher.problems
    assert fuzzer.exchange('{"type":"request","kind":"reset","sequenceNumber":1,"payload":{}}')
