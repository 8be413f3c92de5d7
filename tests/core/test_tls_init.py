"""``pecc tls init``: the certificates checked with ``cryptography``, then served and used as they are.

The acceptance a user runs: ``pecc tls init``, ``pecc run --profile
DIR/NAME-tls.toml`` and ``pecc secc-sim --certs DIR`` as three processes,
on ``pecc run``'s default loop; its handshakes alone on each loop.
"""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from pecc_core.profile import load
from pecc_core.testing import sim_overrides, wait_serving, write_profile

PECC = [sys.executable, "-m", "pecc_core.cli"]
FAST = {
    "timings.cable_check_ms": 200,
    "services.0.params.slew_v_per_s": 5000.0,
    "services.0.params.node_capacitance_f": 0.0005,
}


def pecc(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PECC, *args], capture_output=True, text=True, timeout=timeout)


def certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_tls_init_writes_a_ca_the_server_and_each_seccs_certificate(tmp_path: Path) -> None:
    out = tmp_path / "tls"
    result = pecc("tls", "init", "--profile", "sim", "--out", str(out), "--name", "cabinet.example", "--name", "10.1.2.3")
    assert result.returncode == 0, result.stderr
    ca = certificate(out / "ca.pem")
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server = certificate(out / "server.pem")
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"cabinet.example", "localhost"} <= set(sans.get_values_for_type(x509.DNSName))
    assert {"10.1.2.3", "127.0.0.1"} <= {str(a) for a in sans.get_values_for_type(x509.IPAddress)}
    server.verify_directly_issued_by(ca)
    for secc in ("secc1", "secc2"):
        client = certificate(out / f"{secc}.pem")
        client.verify_directly_issued_by(ca)
        assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == secc
        usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    for key in ("ca.key", "server.key", "secc1.key", "secc2.key"):
        assert stat.S_IMODE((out / key).stat().st_mode) == 0o600, key
    profile = load(str(out / "sim-tls.toml"))
    assert profile.server.tls is not None and profile.server.tls.require_client_cert
    assert profile.server.tls.client_ca == out / "ca.pem"
    assert [s.allow.names for s in profile.seccs] == [("secc1",), ("secc2",)]


@pytest.mark.system("a real `pecc run` process serving wss, and `pecc secc-sim` processes charging against it")
def test_the_written_profile_serves_wss_and_secc_sim_charges_with_its_certificates(
    tmp_path: Path, can_channel: str
) -> None:
    from pecc_plugins.seccsim.ports import free_port, wait_listening

    port = free_port()
    source = write_profile("sim", tmp_path, {**sim_overrides(can_channel, port=port), **FAST})
    out = tmp_path / "tls"
    assert pecc("tls", "init", "--profile", str(source), "--out", str(out)).returncode == 0
    served = out / "sim-tls.toml"
    car = tmp_path / "car.toml"
    car.write_text("[battery]\ncapacity_kwh = 10\nstart_soc = 20\ntarget_soc = 22\n")
    # its log goes to a file: a pipe nobody reads until the end would stop it once full
    logged = tmp_path / "pecc.log"
    with logged.open("w") as sink:
        run = subprocess.Popen([*PECC, "run", "--profile", str(served), "--log-level", "WARNING"],
                               stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_listening(port)
        sim = pecc("secc-sim", "--profile", str(served), "--certs", str(out), "--sessions", "1",
                   "--time-scale", "50", "--scenario", str(car), "--no-live", timeout=120)
        wrong = pecc("secc-sim", f"wss://127.0.0.1:{port}/secc1/gun1", "--ca", str(out / "ca.pem"),
                     "--cert", str(out / "secc2.pem"), "--key", str(out / "secc2.key"), "--sessions", "1",
                     "--no-live", timeout=60)
    finally:
        run.terminate()
        run.wait(timeout=15)
    log = logged.read_text()
    assert sim.returncode == 0, sim.stdout + sim.stderr
    assert "PASS  4 sessions completed" in sim.stdout
    assert wrong.returncode == 1 and "403" in wrong.stdout, wrong.stdout
    assert "refused /secc1/gun1" in log and "secc2" in log
    assert run.returncode == 0, log


@pytest.mark.system("a real `pecc run` process serving wss on each event loop")
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_written_certificates_pass_or_fail_the_handshakes_on_either_event_loop(
    tmp_path: Path, can_channel: str, loop: str
) -> None:
    """The loop-dependent part of the acceptance above (TLS admission), on both loops; no charging."""
    if loop == "uvloop":
        pytest.importorskip("uvloop", reason="uvloop is not installed on this platform")
    source = write_profile("sim", tmp_path, sim_overrides(can_channel))  # port 0: the log says which
    out = tmp_path / "tls"
    assert pecc("tls", "init", "--profile", str(source), "--out", str(out)).returncode == 0
    logged = tmp_path / "pecc.log"
    with logged.open("w") as sink:
        run = subprocess.Popen([*PECC, "run", "--loop", loop, "--profile", str(out / "sim-tls.toml")],
                               stdout=sink, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = f"wss://127.0.0.1:{wait_serving(logged, run)}/secc1/gun1"

        def client(name: str | None) -> ssl.SSLContext:
            context = ssl.create_default_context(cafile=out / "ca.pem")
            if name is not None:
                context.load_cert_chain(out / f"{name}.pem", out / f"{name}.key")
            return context

        with connect(url, ssl=client("secc1"), subprotocols=["pep1.5"], open_timeout=10) as ws:
            assert '"status"' in str(ws.recv(timeout=5))
        with pytest.raises(InvalidStatus) as refused:  # a good certificate, another SECC's
            connect(url, ssl=client("secc2"), subprotocols=["pep1.5"], open_timeout=10)
        assert refused.value.response.status_code == 403
        # no certificate: the server ends the TLS session (in TLS 1.3 the client learns it when it reads)
        with pytest.raises((OSError, InvalidHandshake, ConnectionClosed)):
            connect(url, ssl=client(None), subprotocols=["pep1.5"], open_timeout=10)
    finally:
        run.terminate()
        run.wait(timeout=15)
    log = logged.read_text()
    assert f"event loop: {loop}" in log
    assert "TLS handshake with 127.0.0.1 failed" in log and "refused /secc1/gun1" in log
    assert "Traceback" not in log
    assert run.returncode == 0, log
