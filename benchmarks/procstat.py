"""CPU time and memory of a process, from /proc (Linux)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of the resident set (VmHWM), MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class CpuWindow:
    """CPU % of one core used by ``pid`` between :meth:`start` and :meth:`stop`."""

    pid: int
    _cpu: float = 0.0
    _wall: float = 0.0
    percent: float = float("nan")

    def start(self) -> None:
        self._cpu, self._wall = cpu_seconds(self.pid), time.monotonic()

    def stop(self) -> float:
        self.percent = 100 * (cpu_seconds(self.pid) - self._cpu) / (time.monotonic() - self._wall)
        return self.percent
