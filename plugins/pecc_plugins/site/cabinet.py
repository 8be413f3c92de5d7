"""The cabinet's side of the site (service ``site``): demand out, share in, telemetry out.

Listed in the cabinet's profile::

    [[services]]
    name = "site"
    params = { site = "depot", cabinet = "north", safe_share_w = 20000,
               broker = { host = "10.0.0.2", port = 1883, username = "pecc-depot-north", password = "..." },
               key = "/etc/pecc/site/north.key", site_key = "/etc/pecc/site/site.pub" }

(``pecc site init`` writes the keys and the login.)

While it runs, the station's site share (:func:`pecc_core.caps.set_site_share`,
applied at once like every run-time limit; the policies share the smaller
of it and the station's own site cap, so no operator update, restored or
reset limit raises the station above it) is what the site lets it draw:
the coordinator's share while one is in force, else its safe share. It
starts at the safe share before the station starts, drops to it at once
when the broker connection is lost and when a share lapses
(:class:`ShareHolder`), and takes the next share when the coordinator is
back.

It takes a share only if the site's coordinator signed it for this
cabinet (``site_key``), it has not expired, its lifetime is at most
``share_ttl_max_s`` and its power at most what this cabinet can draw
(``max_share_w``, else its modules' rated power) and the site's cap as
far as the cabinet knows it (``site_max_power_w``): anyone else on the
broker, or a replay, cannot raise it.

It publishes its presence (retained; the last will says offline), its
demand (every ``demand_interval_s`` and at once after a share arrives;
faster while it is still above a lowered share), both signed with its own
``key``, and the telemetry of :mod:`pecc_plugins.site.telemetry`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import aiomqtt
from marshmallow import ValidationError

from pecc_core import caps
from pecc_core.asyncutil import cancel
from pecc_core.clock import wall
from pecc_core.episode import Episode
from pecc_core.profile.schema import (
    Nested,
    Number,
    StrictSchema,
    String,
    at_least,
    between,
    identifier,
)
from pecc_plugins.site import broker, messages, signing
from pecc_plugins.site.holder import ShareHolder
from pecc_plugins.site.telemetry import Telemetry
from pecc_plugins.site.topics import Topics

if TYPE_CHECKING:
    from pecc_core.station import Station

log = logging.getLogger(__name__)

#: How long the stop waits for the broker connection to close (s).
STOP_WITHIN_S = 3.0
#: The name the telemetry is registered under with the station's plugin manager while the service runs.
TELEMETRY = "site.telemetry"

SHARE = messages.ShareSchema()

#: For LOWERING_FOR_S after its cap was lowered, while its power is still above it, the cabinet
#: reports every LOWERING_S, so that the coordinator can give the power freed to others soon.
LOWERING_S = 0.2
LOWERING_FOR_S = 5.0


class SiteParams(StrictSchema):
    """The ``site`` service: which site and cabinet, the safe share, the broker."""

    site = String(required=True, validate=identifier)
    cabinet = String(required=True, validate=identifier)
    safe_share_w = Number(required=True, validate=at_least(0))
    broker = Nested(broker.BrokerSchema, load_default=lambda: broker.BrokerSchema().load({}))
    demand_interval_s = Number(load_default=1.0, validate=between(0.1, 60))
    telemetry_interval_s = Number(load_default=1.0, validate=between(0.1, 3600))
    key = String(required=True, validate=lambda path: _key(signing.load_private, path))
    site_key = String(required=True, validate=lambda path: _key(signing.load_public, path))
    share_ttl_max_s = Number(load_default=60.0, validate=between(1, 600))
    max_share_w = Number(load_default=None, allow_none=True, validate=at_least(0))
    site_max_power_w = Number(load_default=None, allow_none=True, validate=at_least(0))


def _key(load: Any, path: str) -> None:
    try:
        load(path, "key file")
    except signing.SiteKeyError as exc:
        raise ValidationError(str(exc)) from None


class CabinetService:
    """One cabinet on the site's broker (see the module doc)."""

    def __init__(self, params: dict[str, Any], station: Station) -> None:
        self.params = params
        self.station = station
        self.cabinet = params["cabinet"]
        self.topics = Topics(params["site"])
        self.holder = ShareHolder(params["safe_share_w"])
        self.key = signing.load_private(params["key"], "key")
        self.site_key = signing.load_public(params["site_key"], "site_key")
        rated = sum(m.power_max for m in station.profile.power.modules)
        #: The most a share may give: what this cabinet can draw and the site's cap, as far as it knows them.
        self.max_share_w = min(w for w in (rated, params["max_share_w"], params["site_max_power_w"]) if w is not None)
        self._refused = Episode(log, f"site {params['cabinet']}: share refused", ok_level=logging.INFO)
        station.pool.set_site_share(self.holder.safe_w)  # nothing runs yet: no allocation to redo
        self.telemetry = Telemetry(station, self.topics, self.cabinet, params["telemetry_interval_s"])
        self.client: aiomqtt.Client | None = None
        self._report = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._expiry: asyncio.TimerHandle | None = None
        self._lowering_until = 0.0

    async def start(self) -> None:
        # the history's hooks (told by the ctl service, if the station runs one) reach the telemetry
        self.station.plugins.register(self.telemetry, TELEMETRY)
        self._tasks = [asyncio.get_running_loop().create_task(self._run(), name=f"site-{self.cabinet}")]

    async def stop(self) -> None:
        if self.station.plugins.get_plugin(TELEMETRY) is self.telemetry:
            self.station.plugins.unregister(TELEMETRY)
        if self._expiry is not None:
            self._expiry.cancel()
        for task in self._tasks:
            try:
                # bounded: the clean disconnect waits for the broker (up to the client's own
                # 5 s timeout), and the station's stop must not wait on the network that long
                await cancel(task, STOP_WITHIN_S)
            except TimeoutError as exc:
                log.warning("site %s: %s; leaving it", self.cabinet, exc)
            except Exception:
                log.exception("site %s: its task failed", self.cabinet)

    # -- the share ------------------------------------------------------------------

    def apply(self) -> None:
        """Bring the station's site share to what the site allows now (the caps path)."""
        loop = asyncio.get_running_loop()
        limit = self.holder.limit(loop.time())
        if limit != self.station.pool.site_share:
            lower = self.station.pool.site_share is None or limit < self.station.pool.site_share
            caps.set_site_share(self.station, limit)
            if lower:
                self._lowering_until = loop.time() + LOWERING_FOR_S
        held = self.holder.current(loop.time())
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        if held is not None:
            self._expiry = loop.call_at(held.until, self._lapsed)

    def _lapsed(self) -> None:
        self._expiry = None
        log.warning("site share lapsed: back to the safe share (%g W)", self.holder.safe_w)
        self.apply()
        self._report.set()

    def receive(self, message: aiomqtt.Message) -> None:
        """A share from the coordinator: take it if it is signed, valid, within bounds, new and in force."""
        data = broker.decode(message)
        if not signing.verified(self.site_key, self.topics.share(self.cabinet), data):
            self._refused.failed("not signed by the site's coordinator for this cabinet", level=logging.ERROR)
            return
        share = messages.parse(SHARE, data, "share")
        if share is None:
            return
        if share["ttl_s"] > self.params["share_ttl_max_s"] or share["power_w"] > self.max_share_w:
            self._refused.failed(
                f"power_w {share['power_w']:g} W (at most {self.max_share_w:g}), ttl_s {share['ttl_s']:g} s "
                f"(at most {self.params['share_ttl_max_s']:g})", level=logging.ERROR)
            return
        lasts = min(share["ttl_s"], share["expires_at"] - wall())
        remaining = broker.remaining_expiry(message)
        if remaining is not None:
            lasts = min(lasts, remaining)
        if not lasts > 0:  # expired (or a replay of an old one): it must not even move the epoch
            self._refused.failed("expired", level=logging.WARNING)
            return
        self._refused.ok()
        now = asyncio.get_running_loop().time()
        before = self.station.pool.site_share
        self.holder.receive(share["epoch"], share["seq"], share["power_w"], lasts, now)
        self.apply()
        if before is None or self.holder.limit(now) < before:
            self._report.set()  # a decrease: confirm it as soon as the power is down

    # -- demand -----------------------------------------------------------------------

    def demand(self) -> dict[str, Any]:
        """The demand message: every gun's, the cabinet's sum and capacity, and the share it applies."""
        guns = []
        demand_w = capacity_w = measured_w = 0.0
        for gun in self.station.guns.values():
            wanted = gun.demand()
            status = gun.report()
            power = status.measured_voltage * status.measured_current
            requested = min(wanted.voltage * wanted.current, wanted.power_max)
            guns.append({"gun": gun.id, "active": wanted.active, "requested_w": round(requested, 1),
                         "power_max_w": round(wanted.power_max, 1), "ev_max_power_w": gun.ev.ev_max_power_watts,
                         "measured_w": round(power, 1)})
            demand_w += requested if wanted.active else 0.0
            capacity_w += gun.ratings.power_max
            measured_w += power
        own = self.station.pool.site_power_max
        if own is not None:
            capacity_w = min(capacity_w, own)
        held = self.holder.current(asyncio.get_running_loop().time())
        limit = self.station.pool.view.site_power_max
        return {
            "at": wall(),
            "demand_w": round(demand_w, 1),
            "capacity_w": round(capacity_w, 1),
            "measured_w": round(measured_w, 1),
            "limit_w": limit,
            "share": {
                "epoch": self.holder.epoch,
                "seen": self.holder.seen,
                "applying": None if held is None else held.seq,
                "lowered": measured_w <= (limit if limit is not None else float("inf")),
            },
            "guns": guns,
        }

    # -- the connection -----------------------------------------------------------------

    def presence(self, online: bool) -> bytes:
        topic = self.topics.presence(self.cabinet)
        return broker.encode(signing.sign(self.key, topic, {
            "online": online, "at": wall(), "safe_share_w": self.holder.safe_w, "guns": list(self.station.guns),
        }))

    async def _run(self) -> None:
        will = aiomqtt.Will(self.topics.presence(self.cabinet), self.presence(False), qos=1, retain=True)
        identifier = f"pecc-{self.params['site']}-{self.cabinet}"
        while True:
            try:
                async with broker.client(self.params["broker"], identifier, will) as client:
                    self.client = client
                    await client.subscribe(self.topics.share(self.cabinet), qos=1)
                    await client.publish(self.topics.presence(self.cabinet), self.presence(True), qos=1, retain=True)
                    log.info("cabinet %s on the site broker", self.cabinet)
                    try:
                        async with asyncio.TaskGroup() as group:
                            group.create_task(self._demands(client))
                            group.create_task(self.telemetry.run(client))
                            async for message in client.messages:
                                self.receive(message)
                    except asyncio.CancelledError:  # stopping: say so rather than wait for the will
                        with contextlib.suppress(Exception):
                            async with asyncio.timeout(1.0):
                                await client.publish(
                                    self.topics.presence(self.cabinet), self.presence(False), qos=1, retain=True
                                )
                        raise
            except* aiomqtt.MqttError as exc:
                log.warning("site broker: %s; safe share until it is back", exc.exceptions[0])
            self.client = None
            self.holder.drop()
            self.apply()
            await asyncio.sleep(broker.RECONNECT_S)

    async def _demands(self, client: aiomqtt.Client) -> None:
        interval = self.params["demand_interval_s"]
        topic = self.topics.demand(self.cabinet)
        while True:
            demand = self.demand()
            await client.publish(topic, broker.encode(signing.sign(self.key, topic, demand)), qos=1, retain=True,
                                 properties=broker.expiring(3 * interval))
            lowering = not demand["share"]["lowered"] and asyncio.get_running_loop().time() < self._lowering_until
            wait = min(interval, LOWERING_S) if lowering else interval
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
            # that comes as the event is set, and the stop then waits for this loop forever
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._report.wait()
            self._report.clear()
