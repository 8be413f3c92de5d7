"""Start a split station as two processes: ``pecc sim-hw`` and ``pecc run``.

For the tests and the soak harness, which kill and restart the PECC
while the hardware lives on. Everything goes into one private directory
(``XDG_RUNTIME_DIR`` for the sockets, the logs, the written profile), so
any number of split stations run side by side.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pecc_core.testing import wait_serving, write_profile
from pecc_plugins.canbus.unixbus import socket_path

_API = re.compile(r"control API on (http://\S+/api)")


@dataclass
class SplitStation:
    """The bench and the PECC of a split profile, in ``directory``."""

    directory: Path
    source: str = "sim-split"
    overrides: dict[str, Any] = field(default_factory=dict)
    hw: subprocess.Popen[bytes] | None = None
    pecc: subprocess.Popen[bytes] | None = None
    port: int = 0
    api: str = ""
    runs: int = 0

    def __post_init__(self) -> None:
        # port 0 for the PEP-WS server and the control API (the service after simhw)
        # and the control API's own state (history, run-time limits) in the directory too
        overrides = {
            "server.port": 0,
            "services.1.params.port": 0,
            "services.1.params.state_dir": str(self.directory / "state"),
            **self.overrides,
        }
        self.profile = write_profile(self.source, self.directory, overrides)
        self.env = {**os.environ, "XDG_RUNTIME_DIR": str(self.directory), "PYTHONUNBUFFERED": "1"}

    def _spawn(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "pecc_core.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.directory,
            )

    @property
    def hw_log(self) -> Path:
        return self.directory / "sim-hw.log"

    @property
    def pecc_log(self) -> Path:
        return self.directory / f"pecc-{self.runs}.log"

    def start_hw(self, timeout: float = 30.0) -> None:
        self.hw = self._spawn("sim-hw", "--profile", str(self.profile), log=self.hw_log)
        deadline = time.monotonic() + timeout
        while "I/O link" not in self.hw_log.read_text():
            if self.hw.poll() is not None:
                raise AssertionError(f"pecc sim-hw exited:\n{self.hw_log.read_text()}")
            if time.monotonic() >= deadline:
                raise AssertionError(f"pecc sim-hw not up after {timeout:g} s")
            time.sleep(0.05)

    def start_pecc(self, *extra: str, timeout: float = 60.0) -> None:
        """Start ``pecc run`` (again) and wait until it serves; a new log per run."""
        self.runs += 1
        log = self.pecc_log
        self.pecc = self._spawn("run", "--profile", str(self.profile), *extra, log=log)
        self.port = wait_serving(log, self.pecc, timeout)
        found = _API.search(log.read_text())
        self.api = found.group(1) if found else ""

    def kill_pecc(self, sig: int = signal.SIGKILL) -> int:
        if self.pecc is None:
            raise RuntimeError("kill_pecc: no pecc run started (start_pecc first)")
        self.pecc.send_signal(sig)
        return self.pecc.wait(60)

    def bench(self, message: dict[str, Any], reply: str | None = None) -> dict[str, Any]:
        """Send ``message`` over the bench's I/O link as a test bench would; the ``reply`` key's answer."""
        channel = self.profile_data("io.contactors.params.channel")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10.0)
            sock.connect(str(self.directory / socket_path(channel, "io").name))
            sock.sendall(json.dumps(message).encode() + b"\n")
            if reply is None:
                return {}
            with sock.makefile("rb") as lines:
                for line in lines:
                    answer = json.loads(line)
                    if reply in answer:
                        return dict(answer[reply])
        raise AssertionError(f"the bench did not answer {message}")

    def inspect(self) -> dict[str, Any]:
        """What the bench measures now (modules' outputs, guns' voltage and contactors)."""
        return self.bench({"op": "inspect"}, "inspect")

    def profile_data(self, key: str) -> Any:
        node: Any = tomllib.loads(self.profile.read_text())
        for part in key.split("."):
            node = node[part]
        return node

    def close(self) -> None:
        for process in (self.pecc, self.hw):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
