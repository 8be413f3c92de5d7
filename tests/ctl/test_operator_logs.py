"""What a running station logs for its operator: once, with the gun and the reason.

Real SECCs on real WebSockets against a sim station; the log is read as
an operator gets it (libraries' levels as :func:`pecc_core.logs.configure` sets them).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from pecc_core.logs import QUIET
from pecc_core.runtime import report_status
from pecc_core.sdnotify import SystemdNotifier
from pecc_core.testing import eventually

from .conftest import Ctl, charging


@pytest.fixture
def oplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name, level in QUIET.items():
        caplog.set_level(level, logger=name)
    caplog.set_level(logging.INFO)  # last: set_level sets the capturing handler's level too
    return caplog


def lines(caplog: pytest.LogCaptureFixture, *words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if all(w in r.getMessage() for w in words)]


async def test_a_connect_and_a_disconnect_are_logged_once_each_with_the_gun(
    ctl: Ctl, oplog: pytest.LogCaptureFixture
) -> None:
    await ctl.settled()
    secc = await ctl.secc("1-2")
    await secc.ok("configuration")
    await secc.close()
    gun = ctl.runtime.station.guns["1-2"]
    await eventually(lambda: gun.secc is None, 5, "the SECC detached")
    connected = [
        r for r in oplog.records if "connect" in r.getMessage() and r.name.startswith("pecc_plugins.pepws")
    ]
    assert [(r.levelname, getattr(r, "gun", None)) for r in connected] == [("INFO", "1-2"), ("INFO", "1-2")], [
        r.getMessage() for r in connected
    ]
    assert "SECC connected from 127.0.0.1:" in connected[0].getMessage()
    assert "SECC disconnected in standby: connection closed" in connected[1].getMessage()


async def test_a_refused_frame_is_logged_once_at_info_with_gun_and_reason_and_a_flood_is_held_back(
    ctl: Ctl, oplog: pytest.LogCaptureFixture
) -> None:
    await ctl.settled()
    secc = await ctl.secc("1-1")
    await secc.send({"type": "request", "kind": "targetValues", "sequenceNumber": 7, "payload": {}})
    reply = await asyncio.wait_for(secc.replies.get(), 5)
    assert reply["type"] == "error"
    refused = lines(oplog, "gun 1-1: refused targetValues #7 (format)")
    assert len(refused) == 1 and refused[0].levelname == "INFO" and refused[0].gun == "1-1"  # type: ignore[attr-defined]
    oplog.clear()
    for _ in range(200):
        await secc.ws.send("not json")
    for _ in range(200):
        await asyncio.wait_for(secc.replies.get(), 5)
    assert 1 <= len(lines(oplog, "gun 1-1: refused error #0 (format)")) <= 20  # bounded, not 200
    await secc.close()


async def test_a_refused_handshake_is_logged_with_the_path_and_why(ctl: Ctl, oplog: pytest.LogCaptureFixture) -> None:
    base = f"ws://127.0.0.1:{ctl.runtime.transport.port}"
    with pytest.raises(InvalidStatus):
        await connect(base + "/secc9/gun9", subprotocols=[Subprotocol("pep1.5")])
    with pytest.raises(InvalidStatus):
        await connect(base + "/secc1/gun1", subprotocols=[Subprotocol("pep9.9")])
    refused = [r.getMessage() for r in lines(oplog, "refused handshake")]
    assert len(refused) == 2, refused
    assert "to /secc9/gun9: no gun at this path" in refused[0]
    assert "to /secc1/gun1: unsupported sub-protocol pep9.9; this PECC speaks pep1.5" in refused[1]
    assert not [r for r in oplog.records if r.name.startswith("websockets")]


async def test_an_secc_lost_mid_charge_is_a_warning(ctl: Ctl, oplog: pytest.LogCaptureFixture) -> None:
    await ctl.settled()
    secc = await ctl.secc("1-1")
    await charging(secc, 20)
    secc.ws.transport.abort()  # the cable is cut: no closing handshake
    gun = ctl.runtime.station.guns["1-1"]
    await eventually(lambda: gun.secc is None, 5, "the SECC detached")
    lost = lines(oplog, "gun 1-1: SECC disconnected in charge")
    assert [r.levelname for r in lost] == ["WARNING"], [r.getMessage() for r in lost]


async def test_systemd_status_says_how_many_guns_charge_and_are_faulted(ctl: Ctl, tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind(address)
        receiver.setblocking(False)
        systemd = SystemdNotifier({"NOTIFY_SOCKET": address})
        station = ctl.runtime.station
        reporter = asyncio.create_task(report_status(systemd, station, "serving 4 guns"))
        loop = asyncio.get_running_loop()

        async def notice(words: str) -> str:
            async with asyncio.timeout(10):
                while words not in (text := (await loop.sock_recv(receiver, 4096)).decode()):
                    pass
            return text

        try:
            assert await notice("0 charging, 0 faulted") == (
                "STATUS=serving 4 guns; 0 charging, 0 faulted, 0 SECCs connected"
            )
            await ctl.settled()
            secc = await ctl.secc("1-1")
            await charging(secc, 20)
            assert "1 charging, 0 faulted, 1 SECCs connected" in await notice("1 charging")
            station.io.contactors.stick("2-1", True)  # type: ignore[attr-defined]  # (simulated contactors)
            assert "1 charging, 1 faulted" in await notice("1 faulted")
            await secc.close()
        finally:
            reporter.cancel()
