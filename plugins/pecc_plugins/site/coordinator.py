"""The site coordinator (``pecc site run``): shares the grid cap between the cabinets over MQTT.

Each round (every ``refresh_s``, and soon after a cabinet's demand or
presence changes) it reads the cabinets' latest demands, asks the site
policy (:mod:`pecc_plugins.site.targets`) for the target shares and lets
the ledger (:mod:`pecc_plugins.site.ledger`) turn them into grants that
keep the site under its cap; each grant goes to its cabinet with an
expiry (MQTT v5 message expiry and ``expires_at``). Its own state (cap,
shares, cabinets) is a retained message; its last will says offline.

A coordinator that starts grants nothing but safe shares for one share
lifetime (``share_ttl_s + grace_s``): the grants of a previous instance,
which it cannot know, have lapsed by then.

It believes only what is signed (:mod:`pecc_plugins.site.signing`): a
cabinet's demand and presence by that cabinet's key, newer than the last
one taken (a replay is older); a cap command by the site key, newer than
the last one and never above the profile's grid connection. A cabinet
counts as online while its last demand lasts (its MQTT message expiry):
a presence message, true or forged, cannot take a cabinet that keeps
sending demands off the site, nor keep one that stopped on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiomqtt

from pecc_core.clock import wall
from pecc_plugins.site import broker, messages, signing
from pecc_plugins.site.ledger import Grant, Ledger
from pecc_plugins.site.profile import SiteProfile
from pecc_plugins.site.targets import CabinetDemand, targets
from pecc_plugins.site.topics import Topics

log = logging.getLogger(__name__)

DEMAND = messages.DemandSchema()
CAP = messages.CapSchema()

#: A round follows a wake-up (cabinet come or gone, power freed, cap changed) after this long (s):
#: wake-ups come in bursts.
SETTLE_S = 0.05
#: The retained state message is refreshed at most this often (s).
STATE_S = 1.0
#: How long a demand counts when its message carries no expiry (s).
DEMAND_LASTS_S = 3.0


@dataclass
class CabinetView:
    """What the coordinator knows of one cabinet from the broker (its signed messages only)."""

    online: bool = False  # as of the last round
    demand: dict[str, Any] | None = None
    safe_share_w: float | None = None  # as the cabinet says
    alive_until: float = -math.inf  # loop time its last demand lasts until
    #: the ``at`` of the newest message taken, by kind (presence, demand): an older one is a replay
    newest: dict[str, float] = field(default_factory=dict)

    def alive(self, now: float) -> bool:
        return now < self.alive_until


class Coordinator:
    """Plans and publishes the shares of one site (see the module doc)."""

    def __init__(self, profile: SiteProfile) -> None:
        self.profile = profile
        self.topics = Topics(profile.id)
        self.epoch = uuid.uuid4().hex[:12]
        self.ledger = Ledger(dict(profile.safe), profile.share_ttl_s, profile.grace_s)
        self.cabinets = {cabinet: CabinetView() for cabinet in profile.safe}
        #: An operator's run-time cap (``pecc site set-cap``); None: the profile's.
        self.cap_override: float | None = None
        self.shares: dict[str, float] = {}
        if profile.site_key is None:
            raise ValueError("the coordinator needs the site profile's keys")
        self.key = profile.site_key
        self.started = asyncio.get_running_loop().time()
        self._wake = asyncio.Event()
        self._state_due = 0.0
        self._cap_at = -math.inf  # the ``at`` of the cap command in force

    def cap(self) -> float:
        return self.profile.cap_at(datetime.datetime.now().time(), self.cap_override)

    async def run(self) -> None:
        """Serve until cancelled, reconnecting to the broker whenever it is lost."""
        will = aiomqtt.Will(self.topics.coordinator, broker.encode({"online": False}), qos=1, retain=True)
        while True:
            try:
                async with broker.client(self.profile.broker, f"pecc-site-{self.profile.id}", will) as client:
                    log.info("coordinator of site %s connected to %s:%d", self.profile.id,
                             self.profile.broker["host"], self.profile.broker["port"])
                    for topic in (self.topics.presences, self.topics.demands, self.topics.cap_set):
                        await client.subscribe(topic, qos=1)
                    try:
                        async with asyncio.TaskGroup() as group:
                            group.create_task(self._rounds(client))
                            group.create_task(self._read(client))
                    except asyncio.CancelledError:  # stopping: say so rather than wait for the will
                        with contextlib.suppress(Exception):
                            async with asyncio.timeout(1.0):
                                await client.publish(
                                    self.topics.coordinator, broker.encode({"online": False}), qos=1, retain=True
                                )
                        raise
            except* aiomqtt.MqttError as exc:
                log.warning("broker: %s; again in %.0f s", exc.exceptions[0], broker.RECONNECT_S)
            await asyncio.sleep(broker.RECONNECT_S)

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self.receive(message)

    def receive(self, message: aiomqtt.Message) -> None:
        """A presence, demand or cap command from the broker; believed only if signed and new."""
        topic = str(message.topic)
        data = broker.decode(message)
        if topic == self.topics.cap_set:
            self._set_cap(topic, data)
            return
        cabinet = self.topics.cabinet_of(topic) or ""
        view = self.cabinets.get(cabinet)
        kind = topic.rsplit("/", 1)[-1]
        if view is None:
            if data is not None and data.get("online"):
                log.warning("cabinet %r is not in the site profile: its power is not counted", cabinet)
            return
        if not signing.verified(self.profile.cabinet_keys[cabinet], topic, data) or data is None:
            log.warning("%s of cabinet %s ignored: not signed by its key", kind, cabinet)
            return
        at = data.get("at")
        if not isinstance(at, (int, float)) or not math.isfinite(at) or at <= view.newest.get(kind, -math.inf):
            log.warning("%s of cabinet %s ignored: not newer than the last one (a replay)", kind, cabinet)
            return
        view.newest[kind] = float(at)
        if kind == "presence":
            view.safe_share_w = data.get("safe_share_w")
            self._check_safe(cabinet, view)
        elif kind == "demand" and (demand := messages.parse(DEMAND, data, f"demand of {cabinet}")):
            lasts = broker.remaining_expiry(message)
            view.alive_until = asyncio.get_running_loop().time() + (DEMAND_LASTS_S if lasts is None else lasts)
            if not view.online:
                self._wake.set()  # it came: plan it in at once
            # A new demand waits for the next round; power freed by a confirmed decrease goes out at once.
            view.demand = demand
            share = demand["share"]
            if share["epoch"] == self.epoch and self.ledger.confirm(
                cabinet, share["seen"], share["applying"], share["lowered"]
            ):
                self._wake.set()

    def _check_safe(self, cabinet: str, view: CabinetView) -> None:
        said = view.safe_share_w
        if isinstance(said, (int, float)) and said > self.profile.safe[cabinet]:
            log.error("cabinet %s falls back to %g W, more than the site profile's %g W: counting %g W",
                      cabinet, said, self.profile.safe[cabinet], said)
            self.ledger.safe[cabinet] = float(said)

    def _set_cap(self, topic: str, data: dict[str, Any] | None) -> None:
        if not signing.verified(self.key.public_key(), topic, data):
            log.error("cap command refused: not signed by the site key (pecc site set-cap signs it)")
            return
        command = messages.parse(CAP, data, "cap command")
        if command is None:
            return
        if command["at"] <= self._cap_at:
            log.error("cap command refused: not newer than the one in force (a replay)")
            return
        value, floor, ceiling = command["max_power_w"], sum(self.ledger.safe.values()), self.profile.max_power_w
        if value is not None and not floor <= value <= ceiling:
            log.error("cap command refused: max_power_w: got %r; expected null or from the safe shares' sum "
                      "(%g W) to the site's grid connection (%g W)", value, floor, ceiling)
            return
        self.cap_override, self._cap_at = value, command["at"]
        log.info("site cap now %g W (%s)", self.cap(), "operator" if value is not None else "profile")
        self._wake.set()

    def plan(self, now: float) -> dict[str, Grant]:
        """This round's grants to the cabinets online (recorded in the ledger; to be sent)."""
        for cabinet, view in self.cabinets.items():
            if view.alive(now) != view.online:
                view.online = view.alive(now)
                log.info("cabinet %s %s", cabinet, "online" if view.online else "offline (no demand)")
                if not view.online:
                    view.demand = None
        present = [c for c, v in self.cabinets.items() if v.online]
        return self.ledger.plan(self._wanted(present, now), self.cap(), now)

    def _wanted(self, present: list[str], now: float) -> dict[str, float]:
        """This round's target shares of the cabinets present (W), by the site policy."""
        if now - self.started < self.profile.share_ttl_s + self.profile.grace_s:
            return {c: self.ledger.safe[c] for c in present}  # a previous instance's grants may live
        demands = []
        for cabinet in present:
            demand = self.cabinets[cabinet].demand or {"demand_w": 0.0, "capacity_w": 0.0}
            demands.append(CabinetDemand(
                cabinet, demand["demand_w"], demand["capacity_w"], self.profile.priority[cabinet]
            ))
        return targets(self.profile.policy, demands, self.ledger.safe, self.cap())

    def state(self) -> dict[str, Any]:
        """The retained state message: cap, what each cabinet is counted at and was last granted."""
        return {
            "online": True,
            "epoch": self.epoch,
            "at": wall(),
            "max_power_w": self.cap(),
            "policy": self.profile.policy,
            "accounted_w": round(self.ledger.total(), 1),
            "cabinets": {
                cabinet: {
                    "online": view.online,
                    "safe_share_w": self.ledger.safe[cabinet],
                    "share_w": self.shares.get(cabinet) if view.online else None,
                    "accounted_w": round(self.ledger.accounted(cabinet), 1),
                }
                for cabinet, view in self.cabinets.items()
            },
        }

    async def _rounds(self, client: aiomqtt.Client) -> None:
        ttl = self.profile.share_ttl_s
        while True:
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see Cabinet._demands
                async with asyncio.timeout(self.profile.refresh_s):
                    await self._wake.wait()
                await asyncio.sleep(SETTLE_S)
            self._wake.clear()
            now = asyncio.get_running_loop().time()
            grants = self.plan(now)
            issued = wall()
            for cabinet, grant in grants.items():
                topic = self.topics.share(cabinet)
                payload = signing.sign(self.key, topic, {
                    "epoch": self.epoch, "seq": grant.seq, "power_w": grant.power_w,
                    "ttl_s": ttl, "issued_at": issued, "expires_at": issued + ttl,
                })
                await client.publish(topic, broker.encode(payload), qos=1, properties=broker.expiring(ttl))
                self.shares[cabinet] = grant.power_w
            if now >= self._state_due:
                self._state_due = now + STATE_S
                await client.publish(self.topics.coordinator, broker.encode(self.state()), qos=1, retain=True)
