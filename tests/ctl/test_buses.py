"""The control API of a station of two buses: every module named by bus and address, counters per bus."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console

from pecc_core.power import ModuleId
from pecc_core.testing import eventually, running
from pecc_plugins.ctl import tables

from ..can.test_two_buses import two_buses
from .conftest import http_request
from .test_metrics import scrape


async def test_the_api_metrics_and_ctl_modules_show_both_buses(make_profile: Any, can_channel: str) -> None:
    overrides = two_buses(can_channel)
    overrides["services"].append({"name": "ctl", "params": {"port": 0, "thread": False}})
    async with running(make_profile("sim", overrides)) as runtime:
        station = runtime.station
        port = next(s for s in runtime.services if type(s).__name__ == "ControlService").port
        await eventually(lambda: all(m.online for m in station.power.modules.values()), what="modules online")
        await asyncio.sleep(0.5)  # a snapshot published since

        status, body = await asyncio.to_thread(http_request, port, "GET", "/api/modules")
        assert status == 200
        rows = {(m["id"], m["bus"], m["address"]) for m in body["modules"]}
        assert rows == {("can1:1", "can1", 1), ("can1:2", "can1", 2),
                        ("can2:1", "can2", 1), ("can2:2", "can2", 2), ("can2:3", "can2", 3)}
        status, guns = await asyncio.to_thread(http_request, port, "GET", "/api/guns")
        assert next(g for g in guns["guns"] if g["id"] == "1-1")["modules"] == ["can1:1", "can2:1", "can2:2"]

        _, samples = await asyncio.to_thread(scrape, port)
        for bus, address in (("can1", "1"), ("can2", "1"), ("can2", "3")):  # the same address on both buses
            assert samples[("pecc_module_online", (("bus", bus), ("module", address)))] == 1.0
        for bus in ("can1", "can2"):
            assert samples[("pecc_can_frames_received_total", (("bus", bus),))] > 0

        console = Console(width=160, record=True)
        console.print(tables.modules(body))
        shown = console.export_text()
        assert "Bus" in shown and "can2" in shown and "5 online" in shown.replace("│", " ")

        # an injection goes to the simulator of the module's bus, by bus and address
        status, answer = await asyncio.to_thread(
            http_request, port, "POST", "/api/sim/modules/can2:1/fault", {"fault": "hardware"}
        )
        assert status == 200 and answer["module"] == "can2:1"
        await eventually(lambda: not station.power.modules[ModuleId("can2", 1)].usable, what="can2:1 faulted")
        assert station.power.modules[ModuleId("can1", 1)].usable
        status, answer = await asyncio.to_thread(http_request, port, "POST", "/api/sim/modules/1/clear", {})
        assert status == 404 and "no module '1'" in answer["error"]  # two buses: which one?
