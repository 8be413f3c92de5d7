"""One clock: PECC's code reads the event loop's clock, and the wall clock only through ``pecc_core.clock``.

A ``time.monotonic()`` in a timer would keep running on real time in the
virtual-time tests (and a busy machine could then make a module look
silent); a stray ``time.time()`` would be a date nobody can find. The
source is read as text, so a new use fails here before it fails a test.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(ROOT / "pecc_core").rglob("*.py"), *(ROOT / "plugins" / "pecc_plugins").rglob("*.py")])

CLOCK_READ = re.compile(r"\btime\.(monotonic|monotonic_ns|time|time_ns|perf_counter|perf_counter_ns|sleep)\(")

#: Code that waits, blocking, for *another process* (real time by nature), and the clock itself.
REAL_TIME = {
    "pecc_core/clock.py": "the one place the wall clock is read",
    "pecc_core/testing.py": "wait_serving: a `pecc run` process writing its log",
    "plugins/pecc_plugins/simhw/processes.py": "waits for a `pecc sim-hw` process to come up",
    "plugins/pecc_plugins/seccsim/ports.py": "waits for another process's port",
    "plugins/pecc_plugins/ctl/command.py": "`pecc ctl events --follow`: a CLI polling another process",
}


def test_the_sources_are_found() -> None:
    assert len(SOURCES) > 100


def test_no_clock_but_the_loop_s_and_pecc_core_clock() -> None:
    found = [
        f"{name}:{n}: {line.strip()}"
        for path in SOURCES
        if (name := str(path.relative_to(ROOT))) not in REAL_TIME
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if CLOCK_READ.search(line)
    ]
    assert not found, "read loop.time() (timers) or pecc_core.clock (dates):\n" + "\n".join(found)
