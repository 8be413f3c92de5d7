"""Real ``pecc run`` processes: two side by side, each with ``--ctl-port 0`` (``pecc ctl --profile`` finds
each); and what a station killed with SIGKILL keeps of its run-time limits and of an open session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from pecc_core.testing import wait_serving, write_profile

from .conftest import FAST, Secc, charging


@contextlib.contextmanager
def pecc_run(profile: Path, state: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PECC_STATE_DIR": str(state)}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pecc_core.cli", "run", "--profile", str(profile), "--ctl-port", "0"],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def wait_for(path: Path, proc: subprocess.Popen[bytes], log: Path) -> dict:
    deadline = time.monotonic() + 30
    while not (path.exists() and "serving 4 guns" in log.read_text()):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return json.loads(path.read_text())


def get(url: str, method: str = "GET", body: Any = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def killed(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no shutdown code runs, as in a crash."""
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL


@pytest.mark.system("two `pecc run` processes and `pecc ctl` subprocesses")
def test_two_stations_side_by_side_with_any_free_ports(tmp_path: Path, can_channel: str) -> None:
    runs = []
    with contextlib.ExitStack() as stack:
        for n in (1, 2):
            directory = tmp_path / f"station{n}"
            directory.mkdir()
            channel = f"{can_channel}-{n}"
            profile = write_profile("sim", directory, {
                "server.port": 0, "power.driver.params.channel": channel, "services.0.params.channel": channel,
            })  # the ctl service keeps the profile's port 8766: --ctl-port 0 overrides it
            log = directory / "pecc.log"
            proc = stack.enter_context(pecc_run(profile, directory / "state", log))
            runs.append((profile, directory / "state", proc, log))
        urls = []
        for profile, state, proc, log in runs:
            written = wait_for(state / "ctl.json", proc, log)
            assert written["pid"] == proc.pid
            assert f"control API on {written['url']}/api" in log.read_text()
            assert get(written["url"] + "/healthz") == (200, {"status": "ok"})
            status, ready = get(written["url"] + "/readyz")
            assert status == 200 and ready["ready"], ready
            env = {**os.environ, "PECC_STATE_DIR": str(state)}
            result = subprocess.run(
                [sys.executable, "-m", "pecc_core.cli", "ctl", "guns", "--profile", str(profile), "--json"],
                capture_output=True, text=True, env=env, timeout=30, check=False,
            )
            assert result.returncode == 0, result.stderr
            assert len(json.loads(result.stdout)["guns"]) == 4
            urls.append(written["url"])
        assert urls[0] != urls[1]
        for _, state, proc, log in runs:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0, log.read_text()
            assert not (state / "ctl.json").exists()
            assert "Traceback" not in log.read_text()
            assert (state / "history.sqlite3").exists()


@pytest.mark.system("a `pecc run` process")
def test_an_unusable_state_directory_is_a_clear_error_not_a_traceback(tmp_path: Path, can_channel: str) -> None:
    profile = write_profile("sim", tmp_path, {
        "server.port": 0, "power.driver.params.channel": can_channel, "services.0.params.channel": can_channel,
    })
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    log = tmp_path / "pecc.log"
    with pecc_run(profile, blocker / "state", log) as proc:
        assert proc.wait(timeout=30) == 2
    text = log.read_text()
    assert "state_dir" in text and "Traceback" not in text


def sim_profile(directory: Path, channel: str, overrides: dict[str, Any] | None = None) -> Path:
    return write_profile("sim", directory, {
        "server.port": 0, "power.driver.params.channel": channel, "services.0.params.channel": channel,
        **(overrides or {}),
    })


@pytest.mark.system("`pecc run` processes, killed with SIGKILL right after an answer, and started again")
def test_limits_answered_200_survive_a_sigkill_right_after_the_answer(tmp_path: Path, can_channel: str) -> None:
    profile, state = sim_profile(tmp_path, can_channel), tmp_path / "state"
    expected: dict[str, Any] = {}
    for round_ in range(3):
        log = tmp_path / f"pecc-{round_}.log"
        with pecc_run(profile, state, log) as proc:
            url = wait_for(state / "ctl.json", proc, log)["url"]
            if round_:
                status, limits = get(url + "/api/limits")
                assert status == 200 and limits["site_max_power_w"] == expected["site"], log.read_text()
                assert limits["guns"]["1-1"]["max_current_a"] == expected["current"]
            expected = {"site": 40_000.0 + 1000 * round_, "current": 10.0 + round_}
            update = {"site_max_power_w": expected["site"], "guns": {"1-1": {"max_current_a": expected["current"]}}}
            answered = get(url + "/api/limits", "PUT", update)
            killed(proc)  # at once: within a few ms of the answer
            assert answered[0] == 200, answered
    with pecc_run(profile, state, tmp_path / "pecc-last.log") as proc:
        url = wait_for(state / "ctl.json", proc, tmp_path / "pecc-last.log")["url"]
        limits = get(url + "/api/limits")[1]
        assert limits["site_max_power_w"] == expected["site"]
        assert limits["guns"]["1-1"]["max_current_a"] == expected["current"]


@pytest.mark.system("a `pecc run` process charging for real seconds, killed with SIGKILL, and started again")
async def test_a_session_killed_mid_charge_keeps_the_energy_of_its_last_checkpoint(
    tmp_path: Path, can_channel: str
) -> None:
    """docs/control-api.md: an open session is written every 5 s; a crash loses at most that much energy."""
    profile, state = sim_profile(tmp_path, can_channel, FAST), tmp_path / "state"
    log = tmp_path / "pecc.log"
    with pecc_run(profile, state, log) as proc:
        url = (await asyncio.to_thread(wait_for, state / "ctl.json", proc, log))["url"]
        port = wait_serving(log, proc)
        path = get(url + "/api/guns/1-1")[1]["path"]
        secc = Secc(await connect(f"ws://127.0.0.1:{port}{path}", subprotocols=["pep1.5"]))
        await charging(secc, 60)
        await asyncio.sleep(7.5)  # at least one checkpoint
        gun = (await asyncio.to_thread(get, url + "/api/guns/1-1"))[1]
        read_at = time.monotonic()
        killed(proc)
        since_read = time.monotonic() - read_at
        await secc.close()
    had, power = gun["session"]["energy_wh"], max(gun["session"]["peak_power_w"], gun["power_w"])
    with pecc_run(profile, state, tmp_path / "pecc-again.log") as proc:
        url = (await asyncio.to_thread(wait_for, state / "ctl.json", proc, tmp_path / "pecc-again.log"))["url"]
        (session,) = (await asyncio.to_thread(get, url + "/api/sessions?gun=1-1"))[1]["sessions"]
    assert session["id"] == gun["session"]["id"]
    assert session["outcome"] == "failed" and session["end_reason"] == "PECC ended without closing it"
    one_interval = power * 5.0 / 3600  # Wh delivered in one checkpoint interval at the session's peak
    assert 0 < session["energy_wh"] <= had + power * since_read / 3600 + 1e-6, (session, had)
    assert session["energy_wh"] >= had - one_interval, (session, had, one_interval)
