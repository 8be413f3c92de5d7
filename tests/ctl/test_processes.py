"""Two real ``pecc run`` processes side by side, each with ``--ctl-port 0``; ``pecc ctl --profile`` finds each."""

from __future__ import annotations

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

import pytest

from pecc_core.testing import write_profile


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


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


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
