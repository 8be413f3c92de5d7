"""``pecc doctor``: the preflight of a field install, in-process through typer's CliRunner.

The certificates are made here with ``cryptography`` (a CA and a server
certificate it issues, valid over a window the test chooses); the ports
in use are sockets the test binds first.
"""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from pecc_core import hookimpl
from pecc_core.cli import app
from pecc_core.doctor import Check, Status
from pecc_core.doctor.clock import clock_check
from pecc_core.doctor.runner import diagnose
from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.testing import write_profile

runner = CliRunner()


def doctor(*args: str) -> tuple[int, list[dict[str, str]], str]:
    """Exit code, the JSON rows and the whole output of ``pecc doctor --json ARGS``."""
    result = runner.invoke(app, ["doctor", "--json", *args])
    rows = json.loads(result.stdout) if result.stdout.startswith("[") else []
    return result.exit_code, rows, result.output


def by_check(rows: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {row["check"]: row for row in rows}


def sim(tmp_path: Path, overrides: dict[str, Any] | None = None) -> str:
    """The sim profile on any free ports (0), with ``overrides``."""
    return str(write_profile("sim", tmp_path, {"server.port": 0, "services.1.params.port": 0, **(overrides or {})}))


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key(path: Path, key: ec.EllipticCurvePrivateKey, mode: int) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(mode)


def certificates(folder: Path, start: datetime, end: datetime, key_mode: int = 0o600) -> dict[str, Path]:
    """ca.pem, and server.pem / server.key issued by it, the server's valid from ``start`` to ``end``."""
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    ca = (
        x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400)).not_valid_after(now + timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder().subject_name(_name("pecc")).issuer_name(ca.subject)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"cert": folder / "server.pem", "key": folder / "server.key", "client_ca": folder / "ca.pem"}
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["client_ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    _key(paths["key"], server_key, key_mode)
    return paths


def tls_profile(tmp_path: Path, start: datetime, end: datetime, key_mode: int = 0o600) -> str:
    paths = certificates(tmp_path, start, end, key_mode)
    tls = {name: str(path) for name, path in paths.items()}
    return sim(tmp_path, {"server.tls": {**tls, "require_client_cert": True}})


@pytest.fixture
def listening() -> Iterator[int]:
    """A port some other program listens on (127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def in_use(port: int) -> bool:
    """Whether something on this machine listens on 127.0.0.1:``port`` (a `make run`, say)."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def test_the_sim_profile_passes() -> None:
    """The acceptance: every check ok (simulated CAN and I/O say so), exit code 0.

    The bus budget too: 8 UU modules at 125 kbit/s charging, 29 % (a warning
    from above 30 %). The shipped profile's ports are fixed (8765, 8766): where a `make run`
    holds them meanwhile, those rows fail, as they should, and only those.
    """
    ports = {"pep-ws port": 8765, "ctl port": 8766}
    busy = {check for check, port in ports.items() if in_use(port)}
    code, rows, output = doctor("--profile", "sim")
    assert code == (1 if busy else 0), output
    expected = dict.fromkeys(busy, "fail")
    assert rows and all(row["status"] == expected.get(row["check"], "ok") for row in rows), output
    checks = by_check(rows)
    assert checks["can pecc-sim"]["detail"] == "timedvirtual: simulated: skipped"
    assert checks["modules"]["detail"] == "simulated: skipped"
    assert checks["io"]["detail"] == "contactors, imd, supervision, matrix, estop, connector: simulated: skipped"
    for check, port in ports.items():
        if check not in busy:
            assert checks[check]["detail"] == f"127.0.0.1:{port} free"
    assert {"clock", "state directory", "can load"} <= set(checks)


def test_the_table_shows_every_row_and_a_summary(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--profile", sim(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "pep-ws port" in result.output and "simulated: skipped" in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("0 fail, 0 warn, ")


def test_the_cabinet_fails_on_its_missing_can1_without_a_traceback() -> None:
    """This machine has no can1 (nor the cabinet's GPIO): fail rows saying what to do, exit code 1."""
    code, rows, output = doctor("--profile", "cabinet-uu12")
    assert code == 1
    assert "Traceback" not in output
    can1 = by_check(rows)["can can1"]
    assert can1["status"] == "fail"
    assert "no interface can1" in can1["detail"]
    assert "ip link set can1 up type can bitrate 125000 restart-ms 100" in can1["fix"]
    assert not any(row["check"].startswith("module ") for row in rows)  # no bus: nothing listened to


def test_an_invalid_profile_exits_2(tmp_path: Path) -> None:
    code, rows, output = doctor("--profile", str(tmp_path / "missing.toml"))
    assert code == 2 and rows == []
    assert "Traceback" not in output


def test_an_expired_certificate_fails(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    code, rows, _ = doctor("--profile", tls_profile(tmp_path, now - timedelta(days=100), now - timedelta(days=2)))
    assert code == 1
    cert = by_check(rows)["pep-ws tls cert"]
    assert cert["status"] == "fail"
    assert cert["detail"] == f"CN=pecc: expired on {(now - timedelta(days=2)):%Y-%m-%d}"
    assert "pecc tls init" in cert["fix"]


def test_a_certificate_expiring_within_30_days_warns_and_a_valid_one_chains_to_the_ca(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    code, rows, output = doctor("--profile", tls_profile(tmp_path, now - timedelta(days=1), now + timedelta(days=10)))
    assert code == 0, output
    checks = by_check(rows)
    assert checks["pep-ws tls cert"]["status"] == "warn"
    assert "in 9 days" in checks["pep-ws tls cert"]["detail"]  # 10 days less the seconds the test took
    assert checks["pep-ws tls chain"]["status"] == "ok"
    assert checks["pep-ws tls pair"]["status"] == "ok"
    assert checks["pep-ws tls key"]["status"] == "ok"


def test_a_certificate_not_yet_valid_fails_and_names_the_clock(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    code, rows, _ = doctor("--profile", tls_profile(tmp_path, now + timedelta(days=3), now + timedelta(days=300)))
    assert code == 1
    cert = by_check(rows)["pep-ws tls cert"]
    assert cert["status"] == "fail" and "not valid before" in cert["detail"] and "clock" in cert["fix"]


def test_a_world_readable_key_fails_where_pecc_run_would_refuse_it(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    source = tls_profile(tmp_path, now - timedelta(days=1), now + timedelta(days=300), key_mode=0o644)
    code, rows, output = doctor("--profile", source)
    assert code == 1, output
    key = by_check(rows)["pep-ws tls key"]
    assert key["status"] == "fail"
    assert "0644" in key["detail"]
    assert key["fix"] == f"chmod 600 {tmp_path / 'server.key'}"
    assert stat.S_IMODE((tmp_path / "server.key").stat().st_mode) == 0o644  # the doctor changes nothing


def test_a_port_in_use_fails(tmp_path: Path, listening: int) -> None:
    code, rows, _ = doctor("--profile", sim(tmp_path, {"server.port": listening}))
    assert code == 1
    port = by_check(rows)["pep-ws port"]
    assert port["status"] == "fail"
    assert port["detail"] == f"127.0.0.1:{listening} is in use"
    assert f"sport = :{listening}" in port["fix"] and "server.port" in port["fix"]


def test_the_ctl_port_in_use_fails_too(tmp_path: Path, listening: int) -> None:
    code, rows, _ = doctor("--profile", sim(tmp_path, {"services.1.params.port": listening}))
    assert code == 1
    port = by_check(rows)["ctl port"]
    assert port["status"] == "fail" and "services[1].params.port" in port["fix"]


def test_a_state_directory_that_cannot_be_written_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, rows, _ = doctor("--profile", sim(tmp_path, {"services.1.params.state_dir": str(blocker / "state")}))
    assert code == 1
    state = by_check(rows)["state directory"]
    assert state["status"] == "fail" and "is not a directory" in state["detail"]


def test_the_clock_fails_before_the_installation() -> None:
    installed = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    [early] = clock_check(now=datetime(1970, 1, 2, tzinfo=UTC).timestamp(), installed=installed)
    assert early.status is Status.FAIL and early.detail.startswith("1970-01-02 00:00 UTC: before")
    [fine] = clock_check(now=installed + 86_400, installed=installed)
    assert fine.status is Status.OK


class Broken:
    """A plugin whose check raises, and one whose check never ends."""

    @hookimpl
    def pecc_doctor_checks(self) -> list[Check]:
        def boom() -> list[Any]:
            raise RuntimeError("sysfs went away")

        async def forever() -> list[Any]:
            import asyncio

            await asyncio.Event().wait()
            return []

        return [Check("broken", boom), Check("stuck", forever)]


async def test_a_check_that_raises_or_hangs_is_a_fail_row(tmp_path: Path) -> None:
    import asyncio

    plugins = default_manager()
    plugins.register(Broken(), "broken")
    loop = asyncio.get_running_loop()
    started = loop.time()
    rows = {row.check: row for row in await diagnose(load(sim(tmp_path), plugins), plugins)}
    assert loop.time() - started == 30.0  # the stuck check's bound, on virtual time
    assert rows["broken"].status is Status.FAIL
    assert rows["broken"].detail == "the check raised RuntimeError: sysfs went away"
    assert rows["stuck"].status is Status.FAIL and rows["stuck"].detail == "did not finish within 30 s"
    assert rows["pep-ws port"].status is Status.OK  # the others still ran


class Refusing:
    @hookimpl
    def pecc_doctor_checks(self) -> list[Check]:
        raise ValueError("no checks today")


async def test_a_plugin_whose_hook_raises_is_a_fail_row_naming_it_and_the_others_still_run(tmp_path: Path) -> None:
    plugins = default_manager()
    plugins.register(Refusing(), "refusing")
    rows = {row.check: row for row in await diagnose(load(sim(tmp_path), plugins), plugins)}
    assert rows["plugin refusing"].status is Status.FAIL
    assert rows["plugin refusing"].detail == "the check raised ValueError: no checks today"
    assert rows["pep-ws port"].status is Status.OK
