"""A cabinet's ``site`` service and the coordinator in one process, against a real Mosquitto.

Over TLS (certificates made here with trustme) with a username and
password: the share reaches the station's site cap through the caps path;
without a coordinator, or with the wrong password, the cabinet holds its
safe share; the telemetry is on the broker. Without a broker (in-process,
on virtual time): no operator cap raises the share, and the history's
hooks reach the telemetry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import trustme

from pecc_core import caps
from pecc_core.asyncutil import cancel
from pecc_core.gun import FaultChange
from pecc_core.profile import Profile
from pecc_core.records import Session
from pecc_core.testing import eventually, running
from pecc_plugins.seccsim.runner import RunOptions, simulate
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import RunStats
from pecc_plugins.site import broker as mqtt
from pecc_plugins.site import signing
from pecc_plugins.site.coordinator import Coordinator
from pecc_plugins.site.messages import IncidentSchema
from pecc_plugins.site.messages import parse as parse_message
from pecc_plugins.site.profile import parse

from .broker import Mosquitto, mosquitto_binary
from .keys import SiteKeys

SAFE = 10_000.0

#: The tests against the broker: it is another process, its traffic takes real time.
BROKER = pytest.mark.system("a real Mosquitto broker (TLS, a password file) in its own process")


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[Mosquitto, dict[str, Any]]]:
    binary = mosquitto_binary()
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    passwd = tmp_path / "passwd"
    tool = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path=str(Path(binary).parent))
    if tool is None:
        pytest.skip("mosquitto_passwd is not installed (it comes with mosquitto)")
    subprocess.run([tool, "-b", "-c", str(passwd), "cabinet", "s3cret"], check=True, capture_output=True)
    passwd.chmod(0o600)
    broker = Mosquitto(tmp_path, (
        f"cafile {tmp_path / 'ca.pem'}\ncertfile {tmp_path / 'server.pem'}\nkeyfile {tmp_path / 'server.key'}\n"
        f"allow_anonymous false\npassword_file {passwd}\n"
    ))
    broker.start()
    params = {"host": "127.0.0.1", "port": broker.port, "username": "cabinet", "password": "s3cret",
              "tls": {"ca_file": str(tmp_path / "ca.pem")}, "keepalive_s": 2}
    try:
        yield broker, params
    finally:
        broker.kill()


@pytest.fixture
def site_keys(tmp_path: Path) -> SiteKeys:
    return SiteKeys(tmp_path, ("north", "south"))


def cabinet_profile(
    make_profile: Callable[..., Profile], channel: str, broker: dict[str, Any], keys: SiteKeys,
    state: Path | None = None, ctl_thread: bool = True, incident_after_s: float = 3.0,
) -> Profile:
    """A sim cabinet with the site service; with ``state``, the ctl service too (its history feeds events)."""
    ctl_params = {"port": 0, "state_dir": str(state), "thread": ctl_thread, "incident_after_s": incident_after_s}
    ctl = [{"name": "ctl", "params": ctl_params}] if state is not None else []
    return make_profile("sim", {
        "server.port": 0,
        "power.driver.params.channel": channel,
        "services": [
            {"name": "modsim", "params": {"protocol": "uugreen", "interface": "timedvirtual", "channel": channel,
                                          "group": 1}},
            {"name": "site", "params": {"site": "depot", "cabinet": "north", "safe_share_w": SAFE,
                                        "demand_interval_s": 0.2, "broker": broker, **keys.params("north")}},
            *ctl,
        ],
    })


def site_profile(broker: dict[str, Any], keys: SiteKeys) -> Any:
    return parse({
        "site": {"id": "depot", "max_power_w": 100_000, "share_ttl_s": 2, "refresh_s": 0.2, "grace_s": 0.5},
        "broker": broker,
        "keys": keys.table(),
        "cabinets": [{"id": "north", "safe_share_w": SAFE}, {"id": "south", "safe_share_w": SAFE}],
    })


@BROKER
async def test_a_share_over_tls_reaches_the_site_cap_and_lapses_to_the_safe_share(
    tls_broker: tuple[Mosquitto, dict[str, Any]], make_profile: Callable[..., Profile], can_channel: str,
    site_keys: SiteKeys,
) -> None:
    _, broker = tls_broker
    async with running(cabinet_profile(make_profile, can_channel, broker, site_keys)) as runtime:
        pool = runtime.station.pool
        assert pool.view.site_power_max == SAFE  # before any coordinator: the safe share
        coordinator = Coordinator(site_profile(broker, site_keys))
        task = asyncio.create_task(coordinator.run())
        try:
            # north alone present: its safe share and all the rest (south's safe share stays counted)
            await eventually(lambda: pool.view.site_power_max == 90_000, 15, lambda: f"{pool.view}")
        finally:
            await cancel(task)
        await eventually(lambda: pool.view.site_power_max == SAFE, 10, "the share to lapse")


@BROKER
async def test_telemetry_and_presence_are_on_the_broker(
    tls_broker: tuple[Mosquitto, dict[str, Any]], make_profile: Callable[..., Profile], can_channel: str,
    site_keys: SiteKeys,
) -> None:
    _, broker = tls_broker
    seen: dict[str, Any] = {}
    async with (
        running(cabinet_profile(make_profile, can_channel, broker, site_keys)),
        mqtt.client(mqtt.BrokerSchema().load(broker), "watcher") as client,
    ):
        await client.subscribe("pecc/depot/#")
        async with asyncio.timeout(15):
            async for message in client.messages:
                seen[str(message.topic)] = json.loads(message.payload)  # type: ignore[arg-type]
                states = [t for t in seen if t.endswith("/state")]
                if {"presence", "demand"} <= {t.rsplit("/", 1)[1] for t in seen} and len(states) == 4:
                    break
    assert seen["pecc/depot/cabinets/north/presence"]["online"] is True
    assert seen["pecc/depot/cabinets/north/presence"]["safe_share_w"] == SAFE
    demand = seen["pecc/depot/cabinets/north/demand"]
    assert demand["limit_w"] == SAFE and demand["share"]["applying"] is None
    assert [g["gun"] for g in demand["guns"]] == ["1-1", "1-2", "2-1", "2-2"]
    state = seen["pecc/depot/cabinets/north/guns/1-1/state"]
    assert state["state"] == "standby" and state["power_w"] == 0


@BROKER
async def test_a_wrong_password_keeps_the_safe_share(
    tls_broker: tuple[Mosquitto, dict[str, Any]], make_profile: Callable[..., Profile], can_channel: str,
    site_keys: SiteKeys,
) -> None:
    _, broker = tls_broker
    with pytest.raises(aiomqtt.MqttError):
        async with mqtt.client(mqtt.BrokerSchema().load({**broker, "password": "guess"}), "intruder"):
            pass
    async with running(cabinet_profile(make_profile, can_channel, {**broker, "password": "guess"}, site_keys)) as runtime:
        await asyncio.sleep(1.5)  # a reconnect attempt or two
        assert runtime.station.pool.view.site_power_max == SAFE


@BROKER
async def test_the_history_s_events_and_session_records_are_published(
    tls_broker: tuple[Mosquitto, dict[str, Any]], make_profile: Callable[..., Profile], can_channel: str,
    tmp_path: Path, site_keys: SiteKeys,
) -> None:
    _, broker = tls_broker
    profile = cabinet_profile(make_profile, can_channel, broker, site_keys, tmp_path / "state")
    car = from_mapping({"battery": {"capacity_kwh": 10.0, "start_soc": 20.0, "target_soc": 24.0}})
    stats = RunStats()
    events: list[dict[str, Any]] = []
    sessions: list[dict[str, Any]] = []
    async with (
        running(profile) as runtime,
        mqtt.client(mqtt.BrokerSchema().load(broker), "watcher") as client,
    ):
        await client.subscribe("pecc/depot/cabinets/north/events", qos=1)
        await client.subscribe("pecc/depot/cabinets/north/sessions", qos=1)
        await eventually(lambda: runtime.station.services[1].client is not None, 10, "the cabinet on the broker")
        url = profile.url(profile.guns[0], port=runtime.transport.port)
        await simulate([url], car, RunOptions(session=SessionOptions(time_scale=50)), stats)
        async with asyncio.timeout(10):
            async for message in client.messages:
                data = json.loads(message.payload)  # type: ignore[arg-type]
                (sessions if str(message.topic).endswith("/sessions") else events).append(data)
                if sessions:
                    break
    assert stats.sessions_ok == 1
    (record,) = sessions
    assert record["gun"] == "1-1" and record["outcome"] == "completed"
    assert record["end_reason"].startswith("contactorsStatus open") and record["vehicle_id"]
    assert record["energy_wh"] > 0 and record["peak_power_w"] > 0 and record["end"] > record["start"]
    states = [(e["from"], e["to"]) for e in events if e["kind"] == "state" and e["gun"] == "1-1"]
    assert states[0] == ("standby", "cableCheck") and ("preCharge", "charge") in states
    assert any(e["kind"] == "session" for e in events)


@BROKER
async def test_an_incident_is_published_once_on_the_incidents_topic(
    tls_broker: tuple[Mosquitto, dict[str, Any]], make_profile: Callable[..., Profile], can_channel: str,
    tmp_path: Path, site_keys: SiteKeys,
) -> None:
    _, broker = tls_broker
    profile = cabinet_profile(make_profile, can_channel, broker, site_keys, tmp_path / "state", incident_after_s=0.2)
    incidents: list[dict[str, Any] | None] = []
    async with (
        running(profile) as runtime,
        mqtt.client(mqtt.BrokerSchema().load(broker), "watcher") as client,
    ):
        await client.subscribe("pecc/depot/cabinets/north/incidents", qos=1)
        await eventually(lambda: runtime.station.services[1].client is not None, 10, "the cabinet on the broker")
        guns = runtime.station.guns
        guns["1-1"].fail("relay board silent")
        guns["2-1"].fail("relay board silent")  # within the 0.2 s: the same incident
        async with asyncio.timeout(10):
            async for message in client.messages:
                incidents.append(parse_message(IncidentSchema(), json.loads(message.payload), "incident"))  # type: ignore[arg-type]
                break
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):  # nothing more comes: one incident, one message
                async for message in client.messages:
                    incidents.append(json.loads(message.payload))  # type: ignore[arg-type]
        written = (tmp_path / "state" / "incidents").iterdir()
        (folder,) = [p for p in written if p.is_dir()]
    (incident,) = incidents
    assert incident is not None and incident["id"] == folder.name
    assert incident["guns"] == ["1-1", "2-1"] and incident["reason"] == "fault"
    assert incident["size"] == sum(f.stat().st_size for f in folder.iterdir())
    assert abs(incident["at"] - time.time()) < 10


@BROKER
async def test_junk_on_the_share_topic_is_ignored_and_a_valid_share_still_taken(
    tls_broker: tuple[Mosquitto, dict[str, Any]], make_profile: Callable[..., Profile], can_channel: str,
    caplog: pytest.LogCaptureFixture, site_keys: SiteKeys,
) -> None:
    # the whole site plugin: "share ignored" is its messages module's line, and with the level of only
    # the cabinet's set here it went by the root logger's, which an earlier test of the worker may raise
    caplog.set_level(logging.INFO, "pecc_plugins.site")
    _, broker = tls_broker
    topic = "pecc/depot/cabinets/north/share"
    site = site_keys.site
    # signed by the site's key, so that they reach the parser: each is ignored for what it says
    junk = [signing.sign(site, topic, share) for share in (
        {"epoch": "e", "seq": 0, "power_w": 50000, "ttl_s": 5, "expires_at": 9e9},
        {"epoch": "e", "seq": 1, "power_w": -5, "ttl_s": 5, "expires_at": 9e9},
        {"epoch": "e", "seq": "1", "power_w": 50000, "ttl_s": 5, "expires_at": 9e9},
        {"epoch": "e", "seq": 1, "power_w": 50000, "ttl_s": 5},
    )]
    async with (
        running(cabinet_profile(make_profile, can_channel, broker, site_keys)) as runtime,
        mqtt.client(mqtt.BrokerSchema().load(broker), "coordinator") as client,
    ):
        service = runtime.station.services[1]
        await eventually(lambda: service.client is not None, 10, "the cabinet on the broker")
        # valid for 5 s from now, not from before the station started: a loaded machine may take that long
        valid = {"epoch": "e", "seq": 2, "power_w": 42_000, "ttl_s": 5, "expires_at": time.time() + 5}
        refused = [
            b"not json", b"[1, 2]",
            b'{"epoch": "e", "seq": 1, "power_w": NaN, "ttl_s": 5, "expires_at": 9e9}',
            json.dumps(valid).encode(),  # unsigned
            json.dumps(signing.sign(site_keys.cabinets["north"], topic, valid)).encode(),  # not the site's key
            json.dumps(signing.sign(site, "pecc/depot/cabinets/south/share", valid)).encode(),  # another's share
            json.dumps(signing.sign(site, topic, {**valid, "expires_at": 1})).encode(),  # lapsed long ago
        ]
        for payload in [*(json.dumps(j).encode() for j in junk), *refused]:
            await client.publish(topic, payload, qos=1)
        await client.publish(topic, json.dumps(signing.sign(site, topic, valid)).encode(), qos=1)
        pool = runtime.station.pool
        await eventually(lambda: pool.view.site_power_max == 42_000, 10, lambda: f"{pool.view.site_power_max}")
        assert service.holder.seen == 2
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if m.startswith("share ignored")]) == len(junk)
    # the refusals are one episode: a line when it begins, a line when the good share ends it
    refusals = [m for m in messages if "share refused" in m]
    assert refusals == ["site north: share refused: not signed by the site's coordinator for this cabinet",
                        f"site north: share refused: works again after {len(refused)} failures"], refusals


async def test_no_operator_cap_raises_the_station_above_its_share(
    make_profile: Callable[..., Profile], can_channel: str,
    site_keys: SiteKeys,
) -> None:
    nowhere = {"host": "127.0.0.1", "port": 1}  # no broker: the safe share holds
    async with running(cabinet_profile(make_profile, can_channel, nowhere, site_keys)) as runtime:
        station = runtime.station
        assert caps.apply(station, {"site_max_power_w": 500_000})["site_share_w"] == SAFE
        assert station.pool.view.site_power_max == SAFE  # what the policies share
        snapshot = caps.apply(station, {"site_max_power_w": 4_000})
        assert snapshot["site_max_power_w"] == 4_000 and station.pool.view.site_power_max == 4_000
        caps.apply(station, {"site_max_power_w": None})
        assert station.pool.view.site_power_max == SAFE


class Published:
    """Stands in for the broker client: keeps what is published, by topic."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any]] = []

    async def publish(self, topic: str, payload: bytes, **_: Any) -> None:
        self.messages.append((topic, json.loads(payload)))

    def on(self, topic: str) -> list[Any]:
        return [data for t, data in self.messages if t == topic]


async def test_the_history_reaches_the_telemetry_through_the_hooks_without_a_broker(
    make_profile: Callable[..., Profile], can_channel: str, site_keys: SiteKeys, tmp_path: Path,
) -> None:
    nowhere = {"host": "127.0.0.1", "port": 1}  # the telemetry publishes to a stand-in client instead
    profile = cabinet_profile(make_profile, can_channel, nowhere, site_keys, tmp_path / "state", ctl_thread=False)
    async with running(profile) as runtime:
        plugins, station = runtime.plugins, runtime.station
        telemetry = plugins.get_plugin("site.telemetry")
        assert telemetry is station.services[1].telemetry  # the cabinet's, registered while it runs
        client = Published()
        task = asyncio.create_task(telemetry.run(client))  # type: ignore[union-attr]
        try:
            await asyncio.sleep(0)  # connected
            gun = station.guns["1-1"]
            lid = FaultChange("lid", True, "lid open", "lid open", emergency=False)
            plugins.gun_fault(gun, lid)  # an observer hook: the ctl recorder, its history, the hooks
            history = plugins.get_plugin("ctl.recorder").recorder.history  # type: ignore[union-attr]
            history.session(Session("s-open", "1-2", None, 1000.0))  # still running: not a record yet
            history.session(Session("s-1", "1-1", "VIN42", 1000.0, 1900.0, 12.34567, 50123.44,
                                    "contactorsStatus open: done", "completed"))
            await eventually(lambda: client.on("pecc/depot/cabinets/north/sessions"), 2, "a session record")
        finally:
            await cancel(task)
        (fault,) = [e for e in client.on("pecc/depot/cabinets/north/events") if e.get("fault") == "lid open"]
        assert fault == {"ts": fault["ts"], "gun": "1-1", "kind": "fault", "fault": "lid open"}
        assert client.on("pecc/depot/cabinets/north/sessions") == [{
            "gun": "1-1", "session": "s-1", "vehicle_id": "VIN42", "start": 1000.0, "end": 1900.0,
            "energy_wh": 12.346, "peak_power_w": 50123.4, "end_reason": "contactorsStatus open: done",
            "outcome": "completed",
        }]
    assert plugins.get_plugin("site.telemetry") is None and plugins.get_plugin("ctl.recorder") is None


async def test_an_incident_event_makes_one_message_on_the_incidents_topic_without_a_broker(
    make_profile: Callable[..., Profile], can_channel: str, site_keys: SiteKeys, tmp_path: Path,
) -> None:
    nowhere = {"host": "127.0.0.1", "port": 1}  # the telemetry publishes to a stand-in client instead
    profile = cabinet_profile(make_profile, can_channel, nowhere, site_keys, tmp_path / "state", ctl_thread=False)
    async with running(profile) as runtime:
        telemetry = runtime.plugins.get_plugin("site.telemetry")
        client = Published()
        task = asyncio.create_task(telemetry.run(client))  # type: ignore[union-attr]
        try:
            await asyncio.sleep(0)  # connected
            guns = runtime.station.guns
            guns["1-1"].fail("relay board silent")
            await asyncio.sleep(1.0)
            guns["1-2"].fail("relay board silent")  # within the 3 s: the same incident
            await asyncio.sleep(1.9)
            assert client.on("pecc/depot/cabinets/north/incidents") == []  # written 3 s after the first
            await eventually(lambda: client.on("pecc/depot/cabinets/north/incidents"), 2, "the incident")
            await asyncio.sleep(1.0)
        finally:
            await cancel(task)
    (incident,) = client.on("pecc/depot/cabinets/north/incidents")
    (event,) = [e for e in client.on("pecc/depot/cabinets/north/events") if e["kind"] == "incident"]
    assert incident == {"id": event["incident"], "guns": ["1-1", "1-2"], "reason": "fault",
                        "size": event["size"], "at": event["ts"]}
    assert event["incident"].endswith("Z-1-1") and event["size"] > 0
