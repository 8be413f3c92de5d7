"""A real Mosquitto broker on 127.0.0.1 for the site tests: a temp config, a free port, stoppable."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pecc_plugins.seccsim.ports import free_port


def mosquitto_binary() -> str:
    """The mosquitto executable; the test is skipped (with the reason) where it is not installed."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto; .ci/run does)")
    return found


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_listening(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 15.0) -> None:
    """Return once ``process`` (a broker logging to ``log``) listens on ``port``; fail with its log otherwise."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"mosquitto did not start: {log.read_text()}")
        time.sleep(0.02)


class Mosquitto:
    """One broker process; :meth:`start` again after :meth:`kill` reuses the port (a broker restart).

    ``settings`` are the listener's lines (TLS files, password file); anonymous clients by default.
    """

    def __init__(self, directory: Path, settings: str = "allow_anonymous true\n") -> None:
        self.binary = mosquitto_binary()
        self.directory = directory
        self.port = free_port()
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False  # once: a restart keeps the port the clients know
        self.log = directory / "mosquitto.log"

    def start(self) -> None:
        """Start the broker; on the first start, on another free port if the probed one was taken meanwhile."""
        for _ in range(3):
            try:
                self._start()
                return
            except AssertionError:
                if self.started or "in use" not in self.log.read_text():
                    raise
                self.port = free_port()
        self._start()

    def _start(self) -> None:
        config = self.directory / "mosquitto.conf"
        config.write_text(
            # run as whoever runs the tests (as root it would switch to the
            # `mosquitto` user, who cannot read the test's files)
            f"user {getpass.getuser()}\npersistence false\nlistener {self.port} 127.0.0.1\n{self.settings}"
        )
        with self.log.open("a") as out:
            self.process = subprocess.Popen([self.binary, "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_listening(self.process, self.port, self.log)
        except AssertionError:
            self.kill()
            raise
        self.started = True

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
