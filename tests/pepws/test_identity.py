"""Who may be a gun's SECC, with real certificates against a real server (``wss://``, mutual TLS).

Each SECC of the rig's profile allows only the certificate with its own id
as CN (see ``tls_rig.LabCa.overrides``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from pecc_core.asyncutil import poll_until

from .conftest import StartPecc
from .test_session import FAST, ok, ready, settled, target
from .tls_rig import LabCa


@pytest.fixture(scope="module")
def scheme() -> str:
    return "wss"


async def refused_status(url: str, context: ssl.SSLContext, **kw: Any) -> int:
    """The HTTP status a refused handshake got."""
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, ssl=context, subprotocols=["pep1.5"], **kw)
    return refused.value.response.status_code


async def test_no_client_certificate_is_refused(
    start_pecc: StartPecc, lab_ca: LabCa, caplog: pytest.LogCaptureFixture
) -> None:
    pecc = await start_pecc()
    with caplog.at_level(logging.WARNING, logger="pecc_plugins.pepws.admission"):
        with pytest.raises((ssl.SSLError, ConnectionClosed, InvalidMessage, ConnectionResetError)):
            ws = await connect(pecc.url(), ssl=lab_ca.client(None), subprotocols=["pep1.5"])
            await ws.recv()  # TLS 1.3: the refusal of the certificate comes after the handshake
        assert await poll_until(lambda: "TLS handshake with 127.0.0.1 failed" in caplog.text, 5, 0.02)
    assert "CERTIFICATE" in caplog.text
    assert pecc.gun().secc is None


async def test_a_certificate_from_another_ca_is_refused(start_pecc: StartPecc, tmp_path: Any) -> None:
    pecc = await start_pecc()
    stranger = LabCa(tmp_path)
    context = stranger.client("secc1")
    pecc.ca.ca.configure_trust(context)  # type: ignore[union-attr]  # trusts the server, wrong client CA
    with pytest.raises((ssl.SSLError, ConnectionClosed, InvalidMessage, ConnectionResetError)):
        ws = await connect(pecc.url(), ssl=context, subprotocols=["pep1.5"])
        await ws.recv()
    assert pecc.gun().secc is None


async def test_secc2s_certificate_on_secc1s_gun_is_403_and_logged(
    start_pecc: StartPecc, lab_ca: LabCa, caplog: pytest.LogCaptureFixture
) -> None:
    pecc = await start_pecc()
    with caplog.at_level(logging.WARNING, logger="pecc_plugins.pepws.server"):
        assert await refused_status(pecc.url("1-1"), lab_ca.client("secc2")) == 403
    assert pecc.gun("1-1").secc is None
    line = next(r.getMessage() for r in caplog.records if "refused" in r.getMessage())
    assert "/secc1/gun1" in line and "127.0.0.1" in line and "secc2" in line, line
    # its own gun takes it
    client = await pecc.connect("2-1")
    assert (await client.call("configuration"))["type"] == "response"


async def test_a_fingerprint_allows_that_certificate_only(start_pecc: StartPecc, lab_ca: LabCa) -> None:
    fingerprint = lab_ca.fingerprint("secc1")
    pinned = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()  # as openssl prints it
    pecc = await start_pecc({"seccs.0.allow": {"fingerprints": [pinned]}})
    assert await refused_status(pecc.url("1-1"), lab_ca.client("secc1-other")) == 403
    client = await pecc.connect("1-1")
    assert (await client.call("configuration"))["type"] == "response"


async def test_the_same_identity_reconnecting_replaces_the_old_connection(start_pecc: StartPecc) -> None:
    pecc = await start_pecc()
    first = await pecc.connect()
    link = pecc.gun().secc
    second = await pecc.connect()
    await asyncio.wait_for(first.ws.wait_closed(), 5)
    assert pecc.gun().secc is not link and pecc.gun().secc is not None
    assert (await second.call("configuration"))["type"] == "response"


async def test_another_identity_cannot_take_over_a_charging_gun(start_pecc: StartPecc, lab_ca: LabCa) -> None:
    pecc = await start_pecc({**FAST, "seccs.0.allow": {"names": ["secc1", "secc1-spare"]}})
    await settled(pecc)
    client = await pecc.connect()
    await ok(client, "configuration")
    await client.send({"type": "info", "kind": "evConnectionState", "payload": {"evConnectionState": "connected", "vehicleId": "EV1"}})
    await client.send({"type": "info", "kind": "chargingSession", "payload": {"evMaxVoltageVolts": 500, "evMaxCurrentAmperes": 150}})
    await ready(client)
    await ok(client, "targetValues", target(380, 2, "preCharge"))
    await client.until(lambda s: abs(s["measuredVoltage"] - 380) <= 8, 4, "precharged")
    await ok(client, "targetValues", target(400, 60, "charge"))
    await client.until(lambda s: s["measuredCurrent"] > 55, 5, "charging")
    link = pecc.gun().secc

    # an allowed certificate, but not the one holding the gun
    assert await refused_status(pecc.url(), lab_ca.client("secc1-spare")) == 403

    assert pecc.gun().secc is link
    before = len(client.statuses)
    assert (await client.call("targetValues", target(400, 60, "charge")))["type"] == "response"
    assert await poll_until(lambda: len(client.statuses) >= before + 3, timeout=5, interval=0.05)
    assert all(s["payload"]["measuredCurrent"] > 55 for _, s in client.statuses[before:])
