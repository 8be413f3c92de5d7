"""``GET /metrics`` against a running sim station: it parses, and it agrees with the API and the SECC's view."""

from __future__ import annotations

import asyncio
import http.client
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from pecc_core.gun import GunState
from pecc_core.model import Isolation

from .conftest import Ctl, charging


def scrape(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    """The content type and every sample of ``/metrics`` as ``{(name, labels): value}``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        text = response.read().decode()
        content_type = response.getheader("Content-Type") or ""
    finally:
        connection.close()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    return content_type, samples


async def metrics(ctl: Ctl) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    content_type, samples = await asyncio.to_thread(scrape, ctl.api_port)
    assert content_type.startswith("text/plain") and "version=" in content_type
    return samples


def gun(samples: dict, name: str, gun_id: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"gun": gun_id, **labels}.items())))]


def label_values(samples: dict, name: str, gun_id: str, label: str) -> list[str]:
    """The values of ``label`` in the samples of ``name`` for ``gun_id``, in the exposition's order."""
    return [dict(labels)[label] for metric, labels in samples if metric == name and dict(labels)["gun"] == gun_id]


def close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance


async def test_gun_values_match_the_api_and_the_status_messages(ctl: Ctl) -> None:
    await ctl.settled()
    secc = await ctl.secc()
    await charging(secc, 60)
    await asyncio.sleep(0.5)  # some energy delivered
    status = dict(secc.status)
    samples = await metrics(ctl)
    guns = {g["id"]: g for g in (await ctl.http("GET", "/api/guns"))[1]["guns"]}
    charged, idle = guns["1-1"], guns["1-2"]
    # the charging gun: the same state everywhere, V and A within the simulator's jitter
    assert gun(samples, "pecc_gun_state", "1-1", state="charge") == 1
    assert gun(samples, "pecc_gun_state", "1-1", state="standby") == 0
    assert charged["state"] == "charge"
    # one sample per state and per isolation status: the enums' names, no more, no fewer
    assert label_values(samples, "pecc_gun_state", "1-1", "state") == [s.value for s in GunState]
    assert label_values(samples, "pecc_gun_isolation", "1-1", "isolation") == [i.value for i in Isolation]
    assert gun(samples, "pecc_gun_contactors_closed", "1-1") == 1 and status["contactorsStatus"] == "closed"
    assert gun(samples, "pecc_gun_isolation", "1-1", isolation="valid") == 1 and status["isolationStatus"] == "valid"
    assert gun(samples, "pecc_gun_operational", "1-1") == 1 and status["operationalStatus"] == "operative"
    for metric, key, api_key in (
        ("pecc_gun_measured_volts", "measuredVoltage", "measured_voltage"),
        ("pecc_gun_measured_amperes", "measuredCurrent", "measured_current"),
    ):
        value = gun(samples, metric, "1-1")
        assert close(value, status[key], 0.02 * status[key] + 1), (metric, value, status[key])
        assert close(value, charged[api_key], 0.02 * charged[api_key] + 1), (metric, value, charged[api_key])
    assert close(gun(samples, "pecc_gun_power_watts", "1-1"), 400 * 60, 0.05 * 400 * 60)
    assert gun(samples, "pecc_gun_energy_delivered_watt_hours_total", "1-1") > 0
    assert gun(samples, "pecc_gun_sessions_started_total", "1-1") == 1
    # the idle gun: exact zeros
    assert gun(samples, "pecc_gun_state", "1-2", state="standby") == 1 and idle["state"] == "standby"
    for metric in ("pecc_gun_measured_volts", "pecc_gun_measured_amperes", "pecc_gun_power_watts",
                   "pecc_gun_energy_delivered_watt_hours_total", "pecc_gun_contactors_closed",
                   "pecc_gun_secc_connected"):
        assert gun(samples, metric, "1-2") == 0, metric
    assert gun(samples, "pecc_gun_secc_connected", "1-1") == 1
    await secc.close()


async def test_module_values_match_the_api(ctl: Ctl) -> None:
    await ctl.settled()
    station = ctl.runtime.station
    address = station.pool.modules_of("1-1")[0]
    assert (await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"fault": "hardware"}))[0] == 200
    async with asyncio.timeout(5):
        while station.power.modules[address].usable:
            await asyncio.sleep(0.02)
    samples = await metrics(ctl)
    modules = (await ctl.http("GET", "/api/modules"))[1]["modules"]
    for module in modules:
        label = (("bus", module["bus"]), ("module", str(module["address"])))
        assert samples[("pecc_module_online", label)] == float(module["online"])
        assert samples[("pecc_module_usable", label)] == float(module["usable"])
        assert close(samples[("pecc_module_temperature_celsius", label)], module["temperature"], 1.0)
        faulted = samples[("pecc_module_fault", (label[0], ("fault", "hardware"), label[1]))]
        assert faulted == float("hardware" in module["faults"])
    assert samples[("pecc_module_fault", (("bus", "can"), ("fault", "hardware"), ("module", str(address.address))))] == 1
    assert samples[("pecc_module_usable", (("bus", "can"), ("module", str(address.address))))] == 0


async def test_transport_can_and_allocation_metrics_count_what_happened(ctl: Ctl) -> None:
    await ctl.settled()
    before = await metrics(ctl)
    secc = await ctl.secc()
    await secc.ok("configuration")
    await secc.send({"type": "request", "kind": "nonsense", "sequenceNumber": 99, "payload": {}})
    await asyncio.wait_for(secc.replies.get(), 5)
    await secc.until(lambda s: True, 2, "a status")
    await asyncio.sleep(0.3)  # a few status intervals
    await secc.close()
    async with asyncio.timeout(5):
        while ctl.runtime.station.guns["1-1"].secc is not None:
            await asyncio.sleep(0.02)
    # docs/control-api.md: an SECC leaving is in the snapshot within a status period, not at once
    await asyncio.sleep(ctl.runtime.profile.timings.status_interval_ms / 1000)
    after = await metrics(ctl)
    assert after[("pecc_transport_requests_total", (("kind", "configuration"),))] >= 1
    assert after[("pecc_transport_errors_total", (("category", "format"),))] >= 1
    assert after[("pecc_transport_secc_connects_total", ())] == 1
    assert after[("pecc_transport_secc_disconnects_total", ())] == 1
    assert after[("pecc_transport_reply_latency_seconds_count", ())] >= 2
    assert after[("pecc_transport_status_interval_seconds_count", ())] >= 1
    assert after[("pecc_transport_reply_latency_seconds_bucket", (("le", "+Inf"),))] == after[
        ("pecc_transport_reply_latency_seconds_count", ())]
    bus = (("bus", "can"),)  # the profile's name of the bus
    assert after[("pecc_can_frames_sent_total", bus)] > before[("pecc_can_frames_sent_total", bus)]
    assert after[("pecc_can_frames_received_total", bus)] > 0
    assert after[("pecc_can_frames_dropped_total", bus)] == 0
    assert after[("pecc_can_bus_load_ratio", bus)] > 0  # an estimate: above 1 on a virtual bus at FAST polling
    assert ("pecc_can_frames_retried_total", bus) in after
    assert ("pecc_can_bus_error_episodes_total", bus) in after
    assert after[("pecc_site_power_watts", ())] == 0
    assert ("pecc_site_power_cap_watts", ()) not in after  # the sim profile has no site cap
    assert after[("pecc_allocation_module_moves_total", ())] >= 0
    await ctl.http("PUT", "/api/limits", {"site_max_power_w": 90_000})
    assert (await metrics(ctl))[("pecc_site_power_cap_watts", ())] == 90_000


async def test_every_documented_metric_is_exported_and_every_exported_one_documented(ctl: Ctl) -> None:
    await ctl.http("PUT", "/api/limits", {"site_max_power_w": 90_000})
    secc = await ctl.secc()
    await secc.ok("configuration")
    await secc.send({"type": "request", "kind": "nonsense", "sequenceNumber": 99, "payload": {}})
    await asyncio.wait_for(secc.replies.get(), 5)
    documented = {
        line.split("`")[1] for line in (Path(__file__).parents[2] / "docs" / "metrics.md").read_text().splitlines()
        if line.startswith("| `pecc_")
    }
    exported = set()
    for name, _labels in await metrics(ctl):
        base = next((name[: -len(s)] for s in ("_bucket", "_count", "_sum") if name.endswith(s)), name)
        exported.add(name if name in documented else base)
    await secc.close()
    assert exported == documented
