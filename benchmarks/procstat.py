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


def busy_seconds() -> float:
    """CPU time spent by the whole machine so far, every core (not idle, not iowait)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def _status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(pid: int) -> float:
    """The high-water mark of the resident set (VmHWM), MiB."""
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    """The resident set now (VmRSS), MiB."""
    return _status_mb(pid, "VmRSS:")


def reset_peak_rss(pid: int) -> None:
    """Start ``pid``'s high-water mark (:func:`peak_rss_mb`) again from its resident set now (Linux 4.0+)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


@dataclass
class CpuWindow:
    """CPU % of one core used between :meth:`start` and :meth:`stop`.

    By process ``pid``, and by the whole machine (``machine_percent``, up
    to 100 x cores): the difference shows what else ran meanwhile.
    """

    pid: int
    _cpu: float = 0.0
    _busy: float = 0.0
    _wall: float = 0.0
    percent: float = float("nan")
    machine_percent: float = float("nan")

    def start(self) -> None:
        self._cpu, self._busy, self._wall = cpu_seconds(self.pid), busy_seconds(), time.monotonic()

    def stop(self) -> float:
        wall = time.monotonic() - self._wall
        self.percent = 100 * (cpu_seconds(self.pid) - self._cpu) / wall
        self.machine_percent = 100 * (busy_seconds() - self._busy) / wall
        return self.percent
