"""The overload of benchmarks/ops_bench.py, reduced, against a real ``pecc run``: the guns do not notice.

Four SECCs charge the ``sim`` station while ``/metrics`` is scraped back
to back, the history is read 10 000 events at a time back to back and
dashboard streams are opened that never read, with the ops server's
bounds set low (docs/control-api.md, "Load and bounds"). The HTTP clients
run in a process of their own, as in the benchmark: sharing the SECCs'
loop, their reading of megabytes delayed the statuses' arrival there and
counted in the gaps measured. The guns keep
their status (no gap over 400 ms: PEP_STATUS_UPDATE_INTERVAL is 200 ms),
no power stage is lost, nothing is opened under load, the refused
requests are 503 and the PECC's log has no error.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

from benchmarks.ops_bench import seed_history
from benchmarks.opsload import seccs
from pecc_core.testing import heavy, wait_serving, write_profile

from .test_processes import pecc_run

pytestmark = [pytest.mark.system("a `pecc run` process under load from HTTP clients and SECCs, 20 s"), heavy]

STATUS_GAP_MS = 400
#: The project's root: ``python -m benchmarks.opsload`` runs from there.
ROOT = Path(__file__).resolve().parents[2]
WINDOW_S = 8.0
WARMUP_S = 60.0  # at most, until every car is through its cable check and precharge (about 6 s idle)


async def test_the_guns_keep_their_status_while_the_ops_server_is_flooded(tmp_path: Path, can_channel: str) -> None:
    state = tmp_path / "state"
    await seed_history(state / "history.sqlite3")
    profile = write_profile("sim", tmp_path, {
        "server.port": 0, "power.driver.params.channel": can_channel, "services.0.params.channel": can_channel,
        "services.1.params.max_streams": 2, "services.1.params.max_scrapes": 1,
        "services.1.params.max_history_reads": 1,
        "log_levels": {"pecc_core.runtime": "INFO", "pecc_plugins.ctl": "INFO"},
    })
    log = tmp_path / "pecc.log"
    with pecc_run(profile, state, log) as proc:
        port = await asyncio.to_thread(wait_serving, log, proc)
        found = re.search(r"control API on (http://\S+)/api", log.read_text())
        assert found is not None
        data = tomllib.loads(profile.read_text())
        urls = [f"ws://127.0.0.1:{port}{gun['path']}" for secc in data["seccs"] for gun in secc["guns"]]
        ready = asyncio.Event()
        charging = asyncio.create_task(seccs(urls, WARMUP_S, WINDOW_S, ready))
        window = asyncio.create_task(ready.wait())
        await asyncio.wait([charging, window], return_when=asyncio.FIRST_COMPLETED)
        window.cancel()
        load_file = tmp_path / "http.json"
        http = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "benchmarks.opsload", "http", found.group(1), "--window", str(WINDOW_S),
            "--scrapers", "4", "--readers", "2", "--streams", "6", "--out", str(load_file), cwd=ROOT,
        )
        assert await http.wait() == 0
        load = json.loads(load_file.read_text())
        guns = await charging
    text = log.read_text()
    print(json.dumps({"guns": guns, "http": load}, indent=1))
    assert guns["charging_at_window_start"] == 4 and guns["charging_at_window_end"] == 4
    assert max(guns["max_gap_ms"].values()) < STATUS_GAP_MS, guns["max_gap_ms"]
    assert "power stage lost" not in text and "opening under load" not in text
    assert "Traceback" not in text and " ERROR " not in text
    assert load["streams_answered"] == {"200": 2, "503": 4}
    assert load["scrapes"].get("200", 0) > 0
    assert load["event_reads"].get("200", 0) > 0
