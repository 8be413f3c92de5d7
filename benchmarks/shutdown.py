"""How long ``systemctl stop`` takes with every gun of sim-full charging.

    python -m benchmarks.shutdown

Starts ``sim-full-split`` (the bench and the PECC as two processes), lets
``pecc secc-sim`` charge a car on each of the 72 guns (48 modules: the
``dynamic`` policy shares them), waits until the guns are in ``charge``,
sends SIGTERM to the PECC and times: the signal to every gun in standby
(the PECC's own log line), to the process's exit, and checks the bench
afterwards (contactors open, modules off). Prints the figures.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pecc_plugins.simhw.processes import SplitStation

WANT_CHARGING = 40  # of 72 cars: 48 modules, one or more per charging gun
_STANDBY = re.compile(r"every gun in standby after ([\d.]+) s")


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="pecc-shutdown-"))
    split = SplitStation(directory, "sim-full-split")
    secc = None
    try:
        split.start_hw()
        split.start_pecc("--log-level", "INFO")
        secc = subprocess.Popen(
            [sys.executable, "-m", "pecc_core.cli", "secc-sim", "--profile", str(split.profile),
             "--port", str(split.port), "--sessions", "1000", "--time-scale", "1", "--no-live"],
            stdout=(directory / "secc-sim.log").open("wb"), stderr=subprocess.STDOUT, env=split.env,
        )
        deadline = time.monotonic() + 150
        while True:
            with urllib.request.urlopen(f"{split.api}/guns", timeout=10) as reply:
                guns = json.loads(reply.read())["guns"]
            charging = [g for g in guns if g["state"] == "charge"]
            drawing = [g for g in charging if g["measured_current"] > 1.0]
            if len(charging) >= WANT_CHARGING or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert split.pecc is not None
        signalled = time.monotonic()
        split.pecc.send_signal(signal.SIGTERM)
        code = split.pecc.wait(60)
        exited = time.monotonic() - signalled
        found = _STANDBY.search(split.pecc_log.read_text())
        state = split.inspect()
        print(f"guns in charge at SIGTERM: {len(charging)} of {len(guns)} ({len(drawing)} drawing current, "
              f"{sum(g['measured_current'] for g in drawing):.0f} A in all)")
        print(f"SIGTERM -> every gun in standby: {found.group(1) + ' s' if found else 'not reached'}")
        print(f"SIGTERM -> process exit: {exited:.2f} s (exit code {code})")
        print(f"bench after: contactors closed {sum(g['contactors'] for g in state['guns'].values())}, "
              f"modules on {sum(m['on'] for m in state['modules'].values())}")
    finally:
        if secc is not None:
            secc.terminate()
            secc.wait(30)
        split.close()
    print(f"logs in {directory}")


if __name__ == "__main__":
    main()
