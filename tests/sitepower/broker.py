"""A real Mosquitto broker on 127.0.0.1 for the site tests: a temp config, a free port, stoppable."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from pecc_plugins.seccsim.ports import free_port, wait_listening


def mosquitto_binary() -> str:
    """The mosquitto executable; the test is skipped (with the reason) where it is not installed."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    return found


class Mosquitto:
    """One broker process; :meth:`start` again after :meth:`kill` reuses the port (a broker restart)."""

    def __init__(self, directory: Path, extra: str = "") -> None:
        self.binary = mosquitto_binary()
        self.directory = directory
        self.port = free_port()
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "mosquitto.log"

    def start(self) -> None:
        config = self.directory / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n{self.extra}"
        )
        with self.log.open("a") as out:
            self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.port, timeout=15)
        except TimeoutError:
            self.kill()
            raise AssertionError(f"mosquitto did not start: {self.log.read_text()}") from None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def wait_gone(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.process is not None and self.process.poll() is None:
            time.sleep(0.05)
