"""The control API's tokens, roles, rate limit, HTTPS and cross-site checks, over real HTTP on 127.0.0.1.

The hashes are written here with hashlib, not with PECC's helper.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from pecc_core.errors import ConfigError
from pecc_core.plugins import default_manager
from pecc_core.testing import running, sim_overrides

from .conftest import FAST, SECRETS, TOKENS, Api, ctl_of, write_tls

pecc = typer.Typer()  # what `pecc` gets from the plugins' pecc_add_commands hooks
default_manager().add_commands(pecc)

@pytest.fixture
async def api(make_profile: Any, can_channel: str) -> AsyncIterator[Api]:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST, "services.1.params.tokens": TOKENS})
    async with running(profile) as runtime:
        yield Api(ctl_of(runtime).port)


async def test_a_missing_or_wrong_token_is_401(api: Api) -> None:
    status, headers, body = await api("GET", "/api/guns")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "no token" in body["error"] and "Bearer" in body["error"]
    assert (await api("GET", "/api/guns", token="not-a-token"))[0] == 401
    assert (await api("GET", "/metrics", token="not-a-token"))[0] == 401
    assert (await api("GET", "/healthz"))[0] == 200  # probes need none


async def test_roles(api: Api) -> None:
    assert (await api("GET", "/api/guns", token="viewer"))[0] == 200
    assert (await api("GET", "/metrics", token="viewer"))[0] == 200
    status, _, body = await api("PUT", "/api/limits", {"site_max_power_w": 100000}, token="viewer")
    assert status == 403 and "role read" in body["error"] and "needs operate" in body["error"]
    assert (await api("PUT", "/api/limits", {"site_max_power_w": 100000}, token="alice"))[0] == 200
    assert (await api("POST", "/api/sim/guns/1-1/supervision", {"allowed": True}, token="alice"))[0] == 403
    assert (await api("POST", "/api/sim/guns/1-1/supervision", {"allowed": True}, token="lab"))[0] == 200


async def test_operate_calls_are_events_with_the_token_name(api: Api) -> None:
    assert (await api("PUT", "/api/limits", {"site_max_power_w": 90000}, token="alice"))[0] == 200
    assert (await api("POST", "/api/guns/1-1/stop-charging", {}, token="alice"))[0] == 409  # no SECC: not done
    async with asyncio.timeout(5):
        while True:
            _, _, body = await api("GET", "/api/events?kind=operator", token="viewer")
            if body["events"]:
                break
            await asyncio.sleep(0.05)
    (event,) = body["events"]
    assert event["action"] == "PUT /api/limits" and event["token"] == "alice"
    assert event["body"] == {"site_max_power_w": 90000}


async def test_wrong_tokens_are_429_after_five_yet_a_valid_token_still_works(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Five unknown tokens from one address within a minute, then its guesses are 429 (docs/security.md)."""
    with caplog.at_level(logging.WARNING, logger="pecc_plugins.ctl.auth"):
        answers = [(await api("GET", "/api/guns", token=f"guess-{i}"))[0] for i in range(8)]
        status, headers, _ = await api("GET", "/api/guns", token="guess-8")
        assert status == 429 and int(headers["Retry-After"]) > 0
        # the operator on the same address is not locked out by someone else's guesses
        assert (await api("GET", "/api/guns", token="viewer"))[0] == 200
        assert (await api("PUT", "/api/limits", {"site_max_power_w": 100000}, token="alice"))[0] == 200
        assert (await api("GET", "/api/guns", token="guess-9"))[0] == 429  # guessing stays refused
    assert answers[:5] == [401] * 5 and answers[5:] == [429] * 3
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "127.0.0.1" in lines[0] and "429" in lines[1]
    assert not any("guess" in line or "r3ad" in line or "0perate" in line for line in caplog.text.splitlines())
    await asyncio.sleep(61)  # the window (a minute) is over
    assert (await api("GET", "/api/guns", token="guess-10"))[0] == 401


async def test_requests_without_credentials_count_nothing(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """A probe, a bare curl or a page's <img> tags pointing here: 401 every time, never a lockout."""
    with caplog.at_level(logging.WARNING, logger="pecc_plugins.ctl.auth"):
        answers = [(await api("GET", "/api/guns"))[0] for _ in range(20)]
        answers += [(await api("GET", "/api/guns", Authorization="Bearer "))[0] for _ in range(5)]
        answers += [(await api("GET", "/api/guns", Authorization="Basic dXNlcjpwYXNz"))[0] for _ in range(5)]
    assert answers == [401] * 30
    assert not caplog.records  # nothing guessed: nothing to report
    assert (await api("GET", "/api/guns", token="guess"))[0] == 401  # the first guess is still the first


async def test_cross_site_requests_are_refused_and_the_dashboards_own_pass(api: Api) -> None:
    limits = (await api("GET", "/api/limits", token="viewer"))[2]
    evil = {"Origin": "http://evil.example", "Host": "evil.example"}
    status, _, body = await api("PUT", "/api/limits", b'{"site_max_power_w": 1000}', token="alice",
                                Content_Type="text/plain", **evil)
    assert status == 403 and "Host" in body["error"]
    here = f"127.0.0.1:{api.port}"
    status, _, body = await api("PUT", "/api/limits", {"site_max_power_w": 1000}, token="alice",
                                Origin="http://evil.example")
    assert status == 403 and "Origin" in body["error"]
    status, _, body = await api("PUT", "/api/limits", b'{"site_max_power_w": 1000}', token="alice",
                                Content_Type="text/plain")
    assert status == 415
    assert (await api("GET", "/api/limits", token="viewer"))[2] == limits  # nothing applied
    status, _, _ = await api("PUT", "/api/limits", {"site_max_power_w": 95000}, token="alice",
                             Origin=f"http://{here}")  # the dashboard: same origin
    assert status == 200


async def test_cross_site_without_tokens_too(make_profile: Any, can_channel: str) -> None:
    """The loopback API without tokens (the default) refuses the cross-site PUT of the issue."""
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST})
    async with running(profile) as runtime:
        call = Api(ctl_of(runtime).port)
        before = (await call("GET", "/api/limits"))[2]
        status, _, _ = await call("PUT", "/api/limits", b'{"site_max_power_w": 1000}',
                                  Origin="http://evil.example", Host="evil.example", Content_Type="text/plain")
        assert status == 403
        assert (await call("GET", "/api/limits"))[2] == before


async def test_remote_needs_tls_and_tokens(make_profile: Any, can_channel: str, tmp_path: Path) -> None:
    base = {**sim_overrides(can_channel), "services.1.params.allow_remote": True}
    with pytest.raises(ConfigError, match="needs TLS and bearer tokens; missing tls and tokens"):
        async with running(make_profile("sim", base)):
            pass
    write_tls(tmp_path)
    with pytest.raises(ConfigError, match="missing tokens"):
        async with running(make_profile("sim", {**base, "services.1.params.tls": {"cert": "api.pem", "key": "api.key"}})):
            pass


async def test_https_with_tokens_and_pecc_ctl(make_profile: Any, can_channel: str, tmp_path: Path) -> None:
    ca = write_tls(tmp_path)
    secrets_file = tmp_path / "tokens.toml"
    secrets_file.touch(mode=0o600)
    secrets_file.write_text("".join(
        f'[[tokens]]\nname = "{t["name"]}"\nrole = "{t["role"]}"\nhash = "{t["hash"]}"\n' for t in TOKENS
    ))
    profile = make_profile("sim", {
        **sim_overrides(can_channel), **FAST,
        "services.1.params.allow_remote": True,  # still bound to 127.0.0.1 here
        "services.1.params.tls": {"cert": "api.pem", "key": "api.key"},
        "services.1.params.tokens_file": "tokens.toml",
    })
    async with running(profile) as runtime:
        service = ctl_of(runtime)
        assert service.url.startswith("https://")
        context = ssl.create_default_context()
        ca.configure_trust(context)
        call = Api(service.port, context)
        assert (await call("GET", "/api/guns"))[0] == 401
        assert (await call("GET", "/api/guns", token="viewer"))[0] == 200

        def pecc_ctl(*args: str, token: str) -> Any:
            env = {"PECC_CTL_TOKEN": token}
            return CliRunner().invoke(pecc, ["ctl", "--url", service.url, "--ca", str(tmp_path / "ca.pem"),
                                            "--json", *args], env=env)

        result = await asyncio.to_thread(pecc_ctl, "guns", token=SECRETS["viewer"][1])
        assert result.exit_code == 0, result.output
        assert [g["id"] for g in json.loads(result.output)["guns"]] == ["1-1", "1-2", "2-1", "2-2"]
        result = await asyncio.to_thread(pecc_ctl, "limits", "--reset", token=SECRETS["viewer"][1])
        assert result.exit_code == 2 and "HTTP 403" in result.output


async def test_a_tokens_file_readable_by_others_is_refused(make_profile: Any, can_channel: str, tmp_path: Path) -> None:
    secrets_file = tmp_path / "tokens.toml"
    secrets_file.write_text("")
    secrets_file.chmod(0o644)
    profile = make_profile("sim", {**sim_overrides(can_channel), "services.1.params.tokens_file": str(secrets_file)})
    with pytest.raises(ConfigError, match=r"tokens_file: .*tokens.toml is readable or writable by group/others \(mode 0644\)"):
        async with running(profile):
            pass
