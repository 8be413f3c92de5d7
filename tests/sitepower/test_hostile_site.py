"""Hostile neighbours on the site's broker: forged shares, caps and presences change nothing.

Two cabinets (``north``, ``south``) and the coordinator run in this
process against a real Mosquitto. Every attack is made twice over: on an
anonymous broker (only the cabinets' and the coordinator's own checks
stand between the attacker and the grid connection) and, in the last
test, on a broker configured by ``pecc site init`` (one identity per
client and an ACL). Throughout, both cabinets' applied shares are sampled
every 100 ms: their sum (an upper bound of what the site can draw) never
exceeds the cap, and the real coordinator keeps control: a cap it is told
to lower is followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from pecc_core.asyncutil import cancel
from pecc_core.profile import Profile
from pecc_core.runtime import Runtime
from pecc_core.testing import eventually, running
from pecc_plugins.seccsim.ports import free_port
from pecc_plugins.site import broker as mqtt
from pecc_plugins.site import signing
from pecc_plugins.site.coordinator import Coordinator
from pecc_plugins.site.profile import parse

from .broker import Mosquitto, mosquitto_binary, wait_listening
from .keys import SiteKeys

pytestmark = pytest.mark.system("a real Mosquitto broker and MQTT round trips in real time")

CAP = 40_000.0
SAFE = 10_000.0
SHARE = "pecc/depot/cabinets/north/share"


@dataclass
class Site:
    """Two running cabinets and the coordinator; the sampled sum of their applied shares."""

    north: Runtime
    south: Runtime
    coordinator: Coordinator
    sums: list[float] = field(default_factory=list)

    def shares(self) -> tuple[float, float]:
        return (self.north.station.pool.site_share or 0.0, self.south.station.pool.site_share or 0.0)

    def controlled(self) -> bool:
        """Both cabinets apply the coordinator's share (not their safe share)."""
        return all(s.station.services[1].holder.current(asyncio.get_running_loop().time()) is not None
                   for s in (self.north, self.south))


def cabinet(make_profile: Callable[..., Profile], channel: str, name: str, broker: dict[str, Any],
            keys: SiteKeys) -> Profile:
    return make_profile("sim", {
        "server.port": 0,
        "power.driver.params.channel": f"{channel}-{name}",
        "services": [
            {"name": "modsim", "params": {"protocol": "uugreen", "interface": "timedvirtual",
                                          "channel": f"{channel}-{name}", "bitrate": 125_000, "group": 1}},
            {"name": "site", "params": {"site": "depot", "cabinet": name, "safe_share_w": SAFE,
                                        "demand_interval_s": 0.2, "broker": broker, **keys.params(name)}},
        ],
    })


def site_profile(broker: dict[str, Any], keys: SiteKeys) -> Any:
    return parse({
        "site": {"id": "depot", "max_power_w": CAP, "share_ttl_s": 2, "refresh_s": 0.2, "grace_s": 0.5},
        "broker": broker,
        "keys": keys.table(),
        "cabinets": [{"id": "north", "safe_share_w": SAFE}, {"id": "south", "safe_share_w": SAFE}],
    })


@contextlib.asynccontextmanager
async def site(
    make_profile: Callable[..., Profile], channel: str, keys: SiteKeys,
    brokers: dict[str, dict[str, Any]],
) -> AsyncIterator[Site]:
    """The site under the coordinator's control, sampled every 100 ms until it stops."""
    async with (
        running(cabinet(make_profile, channel, "north", brokers["north"], keys)) as north,
        running(cabinet(make_profile, channel, "south", brokers["south"], keys)) as south,
    ):
        running_site = Site(north, south, Coordinator(site_profile(brokers["coordinator"], keys)))
        coordinator = asyncio.create_task(running_site.coordinator.run())
        sampler = asyncio.create_task(sample(running_site))
        try:
            await eventually(running_site.controlled, 15, "the coordinator's shares applied")
            yield running_site
        finally:
            await cancel(sampler)
            await cancel(coordinator)
    assert running_site.sums and max(running_site.sums) <= CAP, max(running_site.sums)


async def sample(running_site: Site) -> None:
    while True:
        running_site.sums.append(sum(running_site.shares()))
        await asyncio.sleep(0.1)


def open_broker(port: int) -> dict[str, dict[str, Any]]:
    params = {"host": "127.0.0.1", "port": port, "keepalive_s": 2}
    return {"north": params, "south": params, "coordinator": params}


@contextlib.asynccontextmanager
async def attacked(
    make_profile: Callable[..., Profile], channel: str, tmp_path: Path, broker: Mosquitto,
) -> AsyncIterator[tuple[Site, aiomqtt.Client, SiteKeys]]:
    """The site on an anonymous ``broker``, its keys, and an attacker's client on that broker."""
    keys = SiteKeys(tmp_path)
    brokers = open_broker(broker.port)
    async with (
        site(make_profile, channel, keys, brokers) as running_site,
        mqtt.client(mqtt.BrokerSchema().load(brokers["north"]), "attacker") as client,
    ):
        yield running_site, client, keys


async def retained(params: dict[str, Any], topic: str) -> dict[str, Any]:
    async with mqtt.client(mqtt.BrokerSchema().load(params), "reader") as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(5):
            message = await anext(client.messages)
    data = mqtt.decode(message)
    assert data is not None
    return data


async def test_a_forged_share_with_the_real_epoch_and_the_largest_seq_is_refused(
    mosquitto: Mosquitto, make_profile: Callable[..., Profile], can_channel: str, tmp_path: Path,
) -> None:
    async with attacked(make_profile, can_channel, tmp_path, mosquitto) as (running_site, client, _):
        epoch = (await retained(open_broker(mosquitto.port)["coordinator"], "pecc/depot/coordinator/state"))["epoch"]
        forged = {"epoch": epoch, "seq": 2**53, "power_w": 200_000, "ttl_s": 1e6, "expires_at": time.time() + 1e6}
        await client.publish(SHARE, json.dumps(forged).encode(), qos=1)
        for seq in (2**53 - 1, 10**6):  # the largest sequence number JSON keeps exactly, and a plain one
            await client.publish(SHARE, json.dumps({**forged, "seq": seq}).encode(), qos=1)
            # the same, signed by a key that is not the site's
            signed = signing.sign(signing.new_key(), SHARE, {**forged, "seq": seq})
            await client.publish(SHARE, mqtt.encode(signed), qos=1)
        await asyncio.sleep(1.0)
        assert max(running_site.shares()) < 200_000
        # the real coordinator still rules: the cabinet takes its next shares (a newer seq)
        holder = running_site.north.station.services[1].holder
        seen = holder.seen
        await eventually(lambda: holder.seen > seen, 5, "the coordinator's next share taken")
        assert holder.epoch == epoch


async def test_forged_shares_of_a_new_epoch_at_20_hz_never_win(
    mosquitto: Mosquitto, make_profile: Callable[..., Profile], can_channel: str, tmp_path: Path,
) -> None:
    async with attacked(make_profile, can_channel, tmp_path, mosquitto) as (running_site, client, _):
        for seq in range(1, 41):  # 2 s at 20 Hz
            forged = {"epoch": f"forged{seq}", "seq": seq, "power_w": 70_000, "ttl_s": 5,
                      "expires_at": time.time() + 5}
            await client.publish(SHARE, json.dumps(forged).encode(), qos=1)
            await asyncio.sleep(0.05)
        assert 70_000 not in running_site.shares()
        assert running_site.controlled()


async def test_a_forged_cap_and_a_signed_cap_above_the_connection_are_refused(
    mosquitto: Mosquitto, make_profile: Callable[..., Profile], can_channel: str, tmp_path: Path,
) -> None:
    topic = "pecc/depot/coordinator/cap/set"
    async with attacked(make_profile, can_channel, tmp_path, mosquitto) as (running_site, client, keys):
        coordinator = running_site.coordinator
        await client.publish(topic, mqtt.encode({"max_power_w": 1e6, "at": time.time()}), qos=1, retain=True)
        too_high = signing.sign(keys.site, topic, {"max_power_w": 1e6, "at": time.time()})
        await client.publish(topic, mqtt.encode(too_high), qos=1, retain=True)
        await asyncio.sleep(1.0)
        assert coordinator.cap() == CAP
        # the operator's signed, bounded command is obeyed, and a replay of an older one is not
        lower = signing.sign(keys.site, topic, {"max_power_w": 30_000.0, "at": time.time()})
        older = signing.sign(keys.site, topic, {"max_power_w": 40_000.0, "at": time.time() - 60})
        await client.publish(topic, mqtt.encode(lower), qos=1, retain=True)
        await eventually(lambda: coordinator.cap() == 30_000, 5, "the operator's cap")
        await client.publish(topic, mqtt.encode(older), qos=1, retain=True)
        await eventually(lambda: sum(running_site.shares()) <= 30_000, 10, lambda: f"{running_site.shares()}")
        await asyncio.sleep(1.0)
        assert coordinator.cap() == 30_000 and sum(running_site.shares()) <= 30_000


async def test_a_forged_offline_presence_does_not_take_a_live_cabinet_off_the_site(
    mosquitto: Mosquitto, make_profile: Callable[..., Profile], can_channel: str, tmp_path: Path,
) -> None:
    async with attacked(make_profile, can_channel, tmp_path, mosquitto) as (running_site, client, keys):
        offline = {"online": False, "at": time.time() + 3600, "safe_share_w": SAFE}
        topic = "pecc/depot/cabinets/north/presence"
        await client.publish(topic, mqtt.encode(offline), qos=1, retain=True)
        # signed by north's key but replayed: an older `at` than north's own presence
        replay = signing.sign(keys.cabinets["north"], topic, {**offline, "at": time.time() - 3600})
        await client.publish(topic, mqtt.encode(replay), qos=1, retain=True)
        await asyncio.sleep(2.0)  # several rounds of the coordinator
        assert running_site.coordinator.cabinets["north"].online
        assert running_site.controlled()


def site_init(tmp_path: Path, port: int) -> dict[str, Path]:
    """``pecc site init`` for a two-cabinet site on ``port``: the client files, by client."""
    (tmp_path / "site.toml").write_text(
        f'[site]\nid = "depot"\nmax_power_w = {CAP}\n[broker]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[[cabinets]]\nid = "north"\nsafe_share_w = {SAFE}\n[[cabinets]]\nid = "south"\nsafe_share_w = {SAFE}\n'
    )
    done = subprocess.run([sys.executable, "-m", "pecc_core.cli", "site", "init", "--profile",
                           str(tmp_path / "site.toml"), "--out", str(tmp_path / "site")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "north" in done.stdout and "operator" in done.stdout
    return {c: tmp_path / "site" / "clients" / f"{c}.toml" for c in ("coordinator", "north", "south", "operator")}


@contextlib.contextmanager
def configured_broker(tmp_path: Path, port: int) -> Any:
    """Mosquitto run on the configuration ``pecc site init`` wrote, as it is."""
    wrapper = tmp_path / "run.conf"  # as root, mosquitto would switch to a user who cannot read the test's files
    wrapper.write_text(f"user {getpass.getuser()}\npersistence false\n"
                       f"include_dir {tmp_path / 'site' / 'mosquitto'}\n")
    with (tmp_path / "mosquitto.log").open("w") as out:
        process = subprocess.Popen([mosquitto_binary(), "-c", str(wrapper)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_listening(process, port, tmp_path / "mosquitto.log")
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


async def test_the_broker_of_pecc_site_init_keeps_strangers_and_other_cabinets_off_the_shares(
    make_profile: Callable[..., Profile], can_channel: str, tmp_path: Path,
) -> None:
    port = free_port()
    clients = site_init(tmp_path, port)
    login = {c: tomllib.loads(path.read_text()) for c, path in clients.items()}
    assert all(path.stat().st_mode & 0o077 == 0 for path in clients.values())
    assert (tmp_path / "site" / "keys" / "site.key").stat().st_mode & 0o077 == 0
    keys = SiteKeys(tmp_path / "site", write=False)
    brokers = {"north": login["north"]["params"]["broker"], "south": login["south"]["params"]["broker"],
               "coordinator": login["coordinator"]["broker"]}
    for params in brokers.values():
        params["keepalive_s"] = 2
    with configured_broker(tmp_path, port):
        anonymous = {"host": "127.0.0.1", "port": port}
        with pytest.raises(aiomqtt.MqttError):
            async with mqtt.client(mqtt.BrokerSchema().load(anonymous), "stranger"):
                pass
        async with (
            site(make_profile, can_channel, keys, brokers) as running_site,
            mqtt.client(mqtt.BrokerSchema().load(brokers["south"]), "south-gone-rogue") as rogue,
        ):
            forged = {"epoch": "x", "seq": 1, "power_w": 35_000, "ttl_s": 5, "expires_at": time.time() + 5}
            # south's identity may not write north's share nor north's presence (the broker drops them)
            await rogue.publish(SHARE, mqtt.encode(signing.sign(keys.cabinets["south"], SHARE, forged)), qos=1)
            await rogue.publish("pecc/depot/cabinets/north/presence", mqtt.encode({"online": False}), qos=1)
            await asyncio.sleep(1.0)
            assert 35_000 not in running_site.shares() and running_site.controlled()
            # the operator's login writes the cap command, which the coordinator obeys
            lower = signing.sign(keys.site, "pecc/depot/coordinator/cap/set",
                                 {"max_power_w": 30_000.0, "at": time.time()})
            operator = {**login["operator"]["broker"], "keepalive_s": 2}
            async with mqtt.client(mqtt.BrokerSchema().load(operator), "operator") as client:
                await client.publish("pecc/depot/coordinator/cap/set", mqtt.encode(lower), qos=1, retain=True)
            await eventually(lambda: sum(running_site.shares()) <= 30_000, 10, lambda: f"{running_site.shares()}")
            # north's login publishes its incidents, which the operator's reads; south's may not forge them
            incidents = "pecc/depot/cabinets/north/incidents"
            async with (
                mqtt.client(mqtt.BrokerSchema().load(operator), "incident-watcher") as watcher,
                mqtt.client(mqtt.BrokerSchema().load(brokers["north"]), "north-incidents") as north,
            ):
                await watcher.subscribe("pecc/depot/cabinets/+/incidents", qos=1)
                await rogue.publish(incidents, mqtt.encode({"id": "forged"}), qos=1)
                await north.publish(incidents, mqtt.encode({"id": "written"}), qos=1)
                async with asyncio.timeout(5):
                    async for message in watcher.messages:
                        assert json.loads(message.payload) == {"id": "written"}  # type: ignore[arg-type]
                        break
