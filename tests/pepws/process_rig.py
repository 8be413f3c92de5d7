"""``pecc run`` as a real process, its log in a file, for signals and resource limits."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_SERVING = re.compile(r"PEP-WS serving \d+ guns on wss?://[^:]+:(\d+)")
#: ``pecc`` in a Python that first sets RLIMIT_NOFILE to (argv[1], argv[2]).
_WITH_LIMIT = (
    "import resource, runpy, sys; "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv.pop(1)), int(sys.argv.pop(1)))); "
    "runpy.run_module('pecc_core.cli', run_name='__main__')"
)


class PeccProcess:
    """``pecc run --profile PATH``, with the open-file limit (soft, hard) ``nofile`` if given.

    ``loop``: ``pecc run --loop`` (asyncio, uvloop, auto); None leaves ``pecc run``'s default.
    """

    def __init__(
        self, profile: Path, log: Path, nofile: tuple[int, int] | None = None, loop: str | None = None
    ) -> None:
        self.port = 0
        self.log = log
        self._out = log.open("w")
        start = [sys.executable, "-m", "pecc_core.cli"]
        if nofile is not None:
            start = [sys.executable, "-c", _WITH_LIMIT, *map(str, nofile)]
        options = ["--loop", loop] if loop is not None else []
        self.proc = subprocess.Popen(
            [*start, "run", *options, "--profile", str(profile)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def started(self) -> PeccProcess:
        """Once listening: the port is known."""
        self.port = int((await self.wait_for(_SERVING)).group(1))
        return self

    def text(self) -> str:
        return self.log.read_text()

    async def wait_for(self, pattern: re.Pattern[str] | str, after: int = 0, timeout: float = 30) -> re.Match[str]:
        """The first match of ``pattern`` in the log from offset ``after``."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            match = regex.search(text, after)
            if match is not None:
                return match
            assert self.proc.poll() is None, f"pecc exited {self.proc.returncode}:\n{text}"
            assert time.monotonic() < deadline, f"no {regex.pattern!r} within {timeout} s:\n{text}"
            await asyncio.sleep(0.05)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.proc.returncode
