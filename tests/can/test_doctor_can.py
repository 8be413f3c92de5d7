"""``pecc doctor``'s CAN rows: the interface against the profile and docs/bring-up.md, the modules heard, the load.

The interface is read from a /sys folder written here and from ``ip
-details -json`` answers as iproute2 prints them for a CAN device; the
modules are heard on the sim station's timed bus, on virtual time.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pecc_core.doctor import Status
from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.testing import running, sim_overrides, write_profile
from pecc_plugins.canbus.doctor import Heard, link_findings, listen, module_findings
from pecc_plugins.canbus.iplink import link_state, parse
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.uugreen.decoder import UuDecoder

CAN1 = BusConfig(interface="socketcan", channel="can1", bitrate=125_000)


def sysfs(tmp_path: Path, operstate: str = "up", flags: str = "0x40c1", queue: str = "10") -> Path:
    directory = tmp_path / "can1"
    directory.mkdir()
    (directory / "operstate").write_text(f"{operstate}\n")
    (directory / "flags").write_text(f"{flags}\n")
    (directory / "tx_queue_len").write_text(f"{queue}\n")
    return directory


def ip_json(state: str = "ERROR-ACTIVE", bitrate: int = 125_000, restart_ms: int = 100, txqlen: int = 10) -> dict[str, Any]:
    """One interface of ``ip -details -json link show dev can1`` (iproute2 6.x), trimmed."""
    return {
        "ifindex": 4, "ifname": "can1", "flags": ["NOARP", "UP", "LOWER_UP", "ECHO"], "mtu": 16,
        "operstate": "UP", "txqlen": txqlen, "link_type": "can",
        "linkinfo": {"info_kind": "can", "info_data": {
            "ctrlmode": [], "state": state, "berr_counter": {"tx": 0, "rx": 0}, "restart_ms": restart_ms,
            "bittiming": {"bitrate": bitrate, "sample_point": "0.875", "tq": 500, "prop_seg": 6,
                          "phase_seg1": 7, "phase_seg2": 2, "sjw": 1, "brp": 4},
        }},
    }


def rows(state: Any) -> dict[str, tuple[Status, str, str]]:
    return {row.check: (row.status, row.detail, row.fix) for row in link_findings(CAN1, state)}


def test_an_interface_as_docs_bring_up_sets_it_but_the_kernels_queue(tmp_path: Path) -> None:
    found = rows(parse(sysfs(tmp_path), ip_json()))
    assert found["can can1"] == (Status.OK, "up, controller ERROR-ACTIVE", "")
    assert found["can can1 bitrate"][0] is Status.OK
    assert found["can can1 restart-ms"][0] is Status.OK
    status, detail, fix = found["can can1 txqueuelen"]
    assert status is Status.WARN and detail.startswith("10 frames; docs/bring-up.md recommends 100")
    assert fix == "ip link set can1 txqueuelen 100"


def test_another_bitrate_fails_and_no_restart_warns(tmp_path: Path) -> None:
    found = rows(parse(sysfs(tmp_path, queue="100"), ip_json(bitrate=250_000, restart_ms=0, txqlen=100)))
    status, detail, fix = found["can can1 bitrate"]
    assert status is Status.FAIL and detail.startswith("250000 bit/s; the profile says 125000")
    assert fix == "ip link set can1 down && ip link set can1 up type can bitrate 125000 restart-ms 100"
    assert found["can can1 restart-ms"][0] is Status.WARN
    assert found["can can1 txqueuelen"][0] is Status.OK


def test_without_ip_what_only_netlink_knows_warns_not_read(tmp_path: Path) -> None:
    found = rows(parse(sysfs(tmp_path, queue="1024"), None))
    assert found["can can1"][0] is Status.OK
    assert found["can can1 bitrate"][:2] == (Status.WARN, "not read")
    assert found["can can1 restart-ms"][:2] == (Status.WARN, "not read")
    assert found["can can1 txqueuelen"] == (Status.OK, "1024 frames", "")


def test_a_down_or_bus_off_interface_fails(tmp_path: Path) -> None:
    down = rows(parse(sysfs(tmp_path, operstate="down", flags="0x80"), None))["can can1"]
    assert down[:2] == (Status.FAIL, "down (operstate down)")
    assert down[2] == "ip link set can1 up type can bitrate 125000 restart-ms 100"
    (tmp_path / "can1" / "flags").write_text("0x40c1\n")
    off = rows(parse(tmp_path / "can1", ip_json(state="BUS-OFF")))["can can1"]
    assert off[0] is Status.FAIL and "bus-off" in off[1] and "termination" in off[2]


async def test_a_missing_interface_is_none_and_a_fail_row(tmp_path: Path) -> None:
    assert await link_state("can1", sysfs=tmp_path) is None
    assert rows(None)["can can1"][0] is Status.FAIL


async def test_every_module_of_the_sim_station_is_heard_in_the_listening_time(tmp_path: Path, can_channel: str) -> None:
    path = write_profile("sim", tmp_path, {**sim_overrides(can_channel), "log_level": "WARNING"})
    profile = load(str(path), default_manager())
    bus = BusConfig(interface="timedvirtual", channel=can_channel, bitrate=125_000)
    async with running(profile):
        loop = asyncio.get_running_loop()
        started = loop.time()
        heard = await listen(bus, UuDecoder(1), 3.0)
        assert loop.time() - started == pytest.approx(3.0)
    assert heard.frames > 0
    assert set(heard.replies) == set(range(1, 9))
    found = {row.check: row for row in module_findings(heard, "uugreen", profile.power.modules, 3.0)}
    assert [found[f"module {a}"].status for a in range(1, 9)] == [Status.OK] * 8
    assert found["module 1"].detail.startswith("uugreen, ")


def test_a_silent_bus_warns_once_and_a_missing_module_fails(tmp_path: Path, can_channel: str) -> None:
    profile = load(str(write_profile("cabinet-uu12", tmp_path, {})), default_manager())
    modules = profile.power.modules
    [silent] = module_findings(Heard(), "uugreen", modules, 3.0)
    assert silent.status is Status.WARN and "pecc run" in silent.fix
    heard = Heard(frames=200, replies=Counter(dict.fromkeys(range(1, 12), 5) | {13: 4}))
    found = {row.check: row for row in module_findings(heard, "uugreen", modules, 3.0)}
    assert found["module 12"].status is Status.FAIL and "power.driver.params.group" in found["module 12"].fix
    assert found["module 13"].status is Status.WARN and "not in power.modules" in found["module 13"].detail
    assert sum(row.status is Status.OK for row in found.values()) == 11


def test_the_can_load_row_is_the_busiest_case_of_the_bus_budget(tmp_path: Path) -> None:
    """12 UU modules at 125 kbit/s, every one exporting: Vout and Iout every 200 ms (10 frames a second
    and their replies), the status every second and the temperature every 5 s (1.2); charging, the 3
    setpoint frames refreshed every second (3): 28.4 frames/s a module, 341 for 12, at most 160 bits
    each: 44 %, a warning. Ramping, a new voltage and current every 100 ms (20) instead: 62.4, 749, 96 %.

    A bus that does not fit never gets here: the profile is refused (test_validate_agrees_with_run.py).
    """
    plugins = default_manager()
    profile = load(str(write_profile("cabinet-uu12", tmp_path, {})), plugins, warnings=[])
    [check] = [c for c in plugins.doctor_checks(profile) if c.name == "can load"]
    [row] = check.run()
    assert row.status is Status.WARN
    assert row.detail == (
        "bus can1 at 125 kbit/s with 12 modules exporting: estimated 44 % charging (341 frames/s), "
        "96 % with every gun ramping (749 frames/s)"
    )
    assert "a higher bitrate" in row.fix
