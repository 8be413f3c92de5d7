"""``[server.tls]`` and ``[seccs.allow]`` in a profile: valid forms, clear errors, private keys."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
import trustme
from typer.testing import CliRunner

from pecc_core.cli import app
from pecc_core.errors import ConfigError
from pecc_core.plugins import default_manager
from pecc_core.profile import ProfileError, load
from pecc_core.testing import running, sim_overrides, write_profile


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1")
    files = {"cert": tmp_path / "server.pem", "key": tmp_path / "server.key", "client_ca": tmp_path / "ca.pem"}
    leaf.cert_chain_pems[0].write_to_path(str(files["cert"]))
    files["key"].touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(files["key"]))
    ca.cert_pem.write_to_path(str(files["client_ca"]))
    return {k: str(v) for k, v in files.items()}


def problems(tmp_path: Path, overrides: dict[str, Any]) -> str:
    path = write_profile("sim", tmp_path, overrides)
    with pytest.raises(ProfileError) as error:
        load(str(path))
    return str(error.value)


def test_tls_and_identities_load(tmp_path: Path, tls_files: dict[str, str]) -> None:
    fingerprint = "AB:" * 31 + "CD"
    path = write_profile("sim", tmp_path, {
        "server.tls": {**tls_files, "require_client_cert": True},
        "seccs.0.allow": {"names": ["secc1"], "fingerprints": [f"sha256:{fingerprint}"], "networks": ["10.1.0.0/16"]},
    })
    profile = load(str(path))
    assert profile.server.tls is not None and profile.server.tls.require_client_cert
    allow = profile.seccs[0].allow
    assert allow.fingerprints == ("ab" * 31 + "cd",)
    assert [str(n) for n in allow.networks] == ["10.1.0.0/16"]
    assert profile.seccs[1].allow.open
    assert profile.url(profile.guns[0]).startswith("wss://127.0.0.1:")


def test_relative_tls_paths_are_relative_to_the_profile(tmp_path: Path, tls_files: dict[str, str]) -> None:
    relative = {k: Path(v).name for k, v in tls_files.items()}
    profile = load(str(write_profile("sim", tmp_path, {"server.tls": relative})))
    assert profile.server.tls is not None and profile.server.tls.key == tmp_path / "server.key"


def test_a_key_readable_by_others_names_the_file_and_the_mode(tmp_path: Path, tls_files: dict[str, str]) -> None:
    Path(tls_files["key"]).chmod(0o644)
    text = problems(tmp_path, {"server.tls": tls_files})
    assert f"server.tls.key: {tls_files['key']} is readable or writable by group/others (mode 0644)" in text
    result = CliRunner().invoke(app, ["profiles", "validate", str(tmp_path / "sim.toml")])
    assert result.exit_code == 2 and "mode 0644" in result.output


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"server.tls": {"cert": "/nonexistent/c.pem", "key": "/nonexistent/k.pem"}},
         "server.tls.cert: got '/nonexistent/c.pem'; cannot be read: No such file or directory"),
        ({"server.tls": {"cert": "c.pem"}}, "server.tls.key: required key is missing"),
        ({"server.tls": {"cert": "c", "key": "k", "require_client_cert": True}},
         "server.tls.require_client_cert: got True; expected client_ca"),
        ({"seccs.0.allow": {"names": ["secc1"]}}, "seccs[0].allow.names: expected server.tls.client_ca too"),
        ({"seccs.0.allow": {"fingerprints": ["12:34"]}},
         "seccs[0].allow.fingerprints[0]: got '12:34'; expected a SHA-256 fingerprint"),
        ({"seccs.0.allow": {"networks": ["10.0.0.1/8"]}},
         "seccs[0].allow.networks[0]: got '10.0.0.1/8'; expected a network like '10.0.0.0/24'"),
        ({"seccs.0.allow": {"subnet": "x"}}, "seccs[0].allow.subnet: got 'x'; unknown key"),
    ],
)
def test_bad_security_settings_are_clear_errors(tmp_path: Path, overrides: dict[str, Any], message: str) -> None:
    assert message in problems(tmp_path, overrides)


def test_pecc_urls_prints_wss_with_tls(tmp_path: Path, tls_files: dict[str, str]) -> None:
    path = write_profile("sim", tmp_path, {"server.tls": tls_files})
    result = CliRunner().invoke(app, ["urls", "--profile", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "wss://127.0.0.1:8765/secc1/gun1"


async def test_an_exposed_open_secc_is_a_warning_or_a_refusal(
    tmp_path: Path, can_channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    """192.0.2.10 (TEST-NET-1) is not ours: the check comes before binding, which then fails."""
    plugins = default_manager()
    base = {**sim_overrides(can_channel), "server.host": "192.0.2.10", "seccs.1.allow": {"networks": ["192.0.2.0/24"]}}
    warned = load(str(write_profile("sim", tmp_path, base)), plugins)
    with caplog.at_level(logging.WARNING, logger="pecc_plugins.pepws.server"), pytest.raises(OSError):
        async with running(warned, plugins):
            pass
    assert re.search(r"PEP-WS listens on '192\.0\.2\.10' with SECCs secc1 open to anyone", caplog.text)
    refusing = load(str(write_profile("sim", tmp_path, {**base, "server.refuse_insecure": True})), plugins)
    with pytest.raises(ConfigError, match=r"server\.refuse_insecure: PEP-WS listens on '192\.0\.2\.10'"):
        async with running(refusing, plugins):
            pass
