"""SIGHUP to a real ``pecc run``: new certificate and allow-lists for new handshakes, live sessions stay."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import tomllib
from pathlib import Path

import pytest
import tomli_w
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from pecc_core.testing import sim_overrides, write_profile

from .process_rig import PeccProcess
from .tls_rig import LabCa


def server_fingerprint(ws: ClientConnection) -> str:
    der = ws.transport.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


async def statuses(ws: ClientConnection, n: int) -> None:
    for _ in range(n):
        await asyncio.wait_for(ws.recv(), 5)


@pytest.mark.system("SIGHUP to a `pecc run` process, TLS across processes")
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_sighup_takes_a_new_certificate_and_allow_list_and_keeps_live_sessions(
    tmp_path: Path, can_channel: str, loop: str
) -> None:
    """On either event loop (uvloop's transports are not asyncio.Transport subclasses).

    Before the reload, a client without a certificate is refused in the TLS handshake.
    """
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    ca = LabCa(tmp_path)
    path = write_profile("sim", tmp_path, {**sim_overrides(can_channel), **ca.overrides()})
    pecc = await PeccProcess(path, tmp_path / "pecc.log", loop=loop).started()
    try:
        url = f"wss://127.0.0.1:{pecc.port}"
        old = await connect(f"{url}/secc1/gun1", ssl=ca.client("secc1"), subprotocols=["pep1.5"])
        before = server_fingerprint(old)
        await statuses(old, 2)
        with pytest.raises((OSError, InvalidHandshake)):  # no client certificate: no TLS session
            await connect(f"{url}/secc1/gun2", ssl=ca.client(None), subprotocols=["pep1.5"])
        await pecc.wait_for("TLS handshake with 127.0.0.1 failed")

        ca.write_server(ca.ca, "server")  # a new server key and certificate, same files
        data = tomllib.loads(path.read_text())
        data["seccs"][0]["allow"] = {"names": ["secc1-new"]}
        path.write_text(tomli_w.dumps(data))
        mark = len(pecc.text())
        pecc.signal(signal.SIGHUP)
        await pecc.wait_for("PEP-WS reloaded", after=mark)

        new = await connect(f"{url}/secc2/gun1", ssl=ca.client("secc2"), subprotocols=["pep1.5"])
        assert server_fingerprint(new) != before
        with pytest.raises(InvalidStatus) as refused:  # secc1's certificate is no longer secc1
            await connect(f"{url}/secc1/gun2", ssl=ca.client("secc1"), subprotocols=["pep1.5"])
        assert refused.value.response.status_code == 403
        replacement = await connect(f"{url}/secc1/gun2", ssl=ca.client("secc1-new"), subprotocols=["pep1.5"])

        await statuses(old, 3)  # the live session goes on, on the old certificate
        await old.send('{"type":"request","kind":"configuration","sequenceNumber":1,"payload":{}}')
        async with asyncio.timeout(5):
            while '"response"' not in str(await old.recv()):
                pass
        for ws in (old, new, replacement):
            await ws.close()
    finally:
        code = pecc.stop()
    text = pecc.text()
    assert "Traceback" not in text
    assert code == 0, text
