"""Shutdown in the right order, seen by real SECC clients on the separate hardware process.

SIGTERM with two guns charging: the SECCs get ``stopCharging`` while the
connection still carries status; the statuses then show 0 A and the
contactors open; only after that does the PECC close the connection with
1001 (going away). One SECC ends its session when asked; the other
answers ``stopCharging`` and does nothing more: the PECC takes its gun
down itself, through the same safe path, before closing.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from pecc_core.testing import QUICK_CABINET, heavy
from pecc_plugins.simhw.processes import SplitStation

from ..gun.secc import Secc
from .test_restart import charge_at_80_a

pytestmark = [pytest.mark.system("`pecc run` and `pecc sim-hw` processes, stopped by SIGTERM"), heavy]


class RecordingSecc(Secc):
    """A scripted SECC that records everything the PECC sends, in order, and answers stopCharging."""

    def __init__(self, ws: Any, cooperative: bool) -> None:
        self.record: list[tuple[str, Any]] = []
        self.cooperative = cooperative
        self.stop_asked = asyncio.Event()
        super().__init__(ws)

    async def _read(self) -> None:
        try:
            async for frame in self.ws:
                message = json.loads(frame)
                if message["type"] == "request" and message["kind"] == "stopCharging":
                    self.record.append(("stopCharging", None))
                    await self.ws.send(json.dumps({
                        "type": "response", "kind": "stopCharging",
                        "sequenceNumber": message["sequenceNumber"], "payload": {},
                    }))
                    self.stop_asked.set()
                elif message["type"] in ("response", "error"):
                    self._replies.put_nowait(message)
                elif message["kind"] == "status":
                    self.status = message["payload"]
                    self.record.append(("status", message["payload"]))
        except ConnectionClosed:
            pass
        assert self.ws.close_code is not None
        self.record.append(("close", self.ws.close_code))

    async def end_session_when_asked(self) -> None:
        """What an SECC does on stopCharging: current to 0, postCharge, contactors open."""
        await self.stop_asked.wait()
        if not self.cooperative:
            return
        await self.target(0, 0, 40, "postCharge")
        await self.ok("contactorsStatus", {"contactorsStatus": "open"})


def check_order(record: list[tuple[str, Any]]) -> None:
    kinds = [kind for kind, _ in record]
    asked = kinds.index("stopCharging")
    closed = kinds.index("close")
    assert record[closed][1] == 1001, record[closed]
    after = [payload for kind, payload in record[asked:closed] if kind == "status"]
    safe = next(
        (i for i, s in enumerate(after) if s["measuredCurrent"] < 1 and s["contactorsStatus"] == "open"), None
    )
    assert safe is not None, f"no status with 0 A and contactors open before the close: {after[-3:]}"
    assert all(s["measuredCurrent"] < 1 and s["contactorsStatus"] == "open" for s in after[safe:]), after[safe:]
    assert after[-1]["measuredVoltage"] < 60, f"the close followed a status above 60 V: {after[-1]}"
    before = [payload for kind, payload in record[:asked] if kind == "status"]
    assert before[-1]["measuredCurrent"] > 70 and before[-1]["contactorsStatus"] == "closed", before[-1]


def test_sigterm_ends_sessions_first_then_closes(tmp_path: Path) -> None:
    split = SplitStation(tmp_path, overrides=QUICK_CABINET)
    try:
        split.start_hw()
        split.start_pecc()

        async def scenario() -> tuple[list[Any], list[Any], float]:
            async with (
                connect(f"ws://127.0.0.1:{split.port}/secc1/gun1", subprotocols=["pep1.5"],  # type: ignore[list-item]
                        compression=None) as ws1,
                connect(f"ws://127.0.0.1:{split.port}/secc2/gun1", subprotocols=["pep1.5"],  # type: ignore[list-item]
                        compression=None) as ws2,
            ):
                good, deaf = RecordingSecc(ws1, True), RecordingSecc(ws2, False)
                await asyncio.gather(charge_at_80_a(good), charge_at_80_a(deaf))
                enders = [asyncio.create_task(c.end_session_when_asked()) for c in (good, deaf)]
                assert split.pecc is not None
                split.pecc.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                await asyncio.gather(good._reader, deaf._reader)
                await asyncio.gather(*enders, return_exceptions=True)
                exit_code = await asyncio.to_thread(split.pecc.wait, 60)
                assert exit_code == 0, split.pecc_log.read_text()
                return good.record, deaf.record, time.monotonic() - signalled

        good, deaf, took = asyncio.run(scenario())
        check_order(good)
        check_order(deaf)
        state = split.inspect()
        assert not any(g["contactors"] for g in state["guns"].values()), state
        assert not any(m["on"] for m in state["modules"].values()), state
        print(f"\nSIGTERM to exit with 2 guns charging (one SECC deaf to stopCharging): {took:.2f} s")
    finally:
        split.close()
