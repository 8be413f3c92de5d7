"""Hostile publishers: whatever arrives on the site's topics, nobody raises and nothing unsafe is taken."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from pecc_plugins.site import signing
from pecc_plugins.site.coordinator import Coordinator
from pecc_plugins.site.messages import ShareSchema, parse
from pecc_plugins.site.profile import parse as parse_profile

from .keys import SiteKeys

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
SHARE_LIKE = st.fixed_dictionaries({}, optional={
    "epoch": st.one_of(st.text(max_size=4), SCALARS), "seq": SCALARS, "power_w": SCALARS,
    "ttl_s": SCALARS, "expires_at": SCALARS})
DEMAND_LIKE = st.fixed_dictionaries({}, optional={
    "demand_w": SCALARS, "capacity_w": SCALARS,
    "share": st.one_of(JSON, st.fixed_dictionaries({}, optional={
        "epoch": SCALARS, "seen": SCALARS, "applying": SCALARS, "lowered": SCALARS}))})


CAP_LIKE = st.fixed_dictionaries({}, optional={"max_power_w": SCALARS})


def message(topic: str, payload: Any) -> aiomqtt.Message:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return aiomqtt.Message(topic, raw, 1, False, 1, None)


@given(SHARE_LIKE)
def test_only_a_share_with_finite_sane_values_is_taken(data: dict[str, Any]) -> None:
    share = parse(ShareSchema(), data, "share")
    if share is not None:
        assert share["seq"] >= 1 and isinstance(share["epoch"], str)
        assert math.isfinite(share["power_w"]) and share["power_w"] >= 0
        assert math.isfinite(share["ttl_s"]) and share["ttl_s"] > 0 and math.isfinite(share["expires_at"])


@pytest.fixture(scope="module")
def site_keys(tmp_path_factory: pytest.TempPathFactory) -> SiteKeys:
    return SiteKeys(tmp_path_factory.mktemp("site"), ("north", "south"))


def signed_as(key: Ed25519PrivateKey, topic: str, payload: Any, sign: bool) -> Any:
    """``payload`` signed for ``topic`` when asked and it can be (an object of JSON values):
    junk that passes the signature check."""
    if not (sign and isinstance(payload, dict)):
        return payload
    try:
        return signing.sign(key, topic, payload)
    except ValueError:  # NaN or infinity: not JSON, so nobody can sign it
        return payload


@settings(max_examples=300)
@given(
    topic=st.sampled_from(["presence", "demand", "share", "guns/1-1/state", "events"]),
    payload=st.one_of(JSON, DEMAND_LIKE, st.binary(max_size=20)),
    cap=st.one_of(CAP_LIKE, JSON),
    cabinet=st.sampled_from(["north", "intruder"]),
    sign=st.booleans(),
)
def test_the_coordinator_takes_any_message_without_raising(
    site_keys: SiteKeys, topic: str, payload: Any, cap: Any, cabinet: str, sign: bool
) -> None:
    async def receive() -> None:
        coordinator = Coordinator(parse_profile({
            "site": {"id": "depot", "max_power_w": 100_000},
            "keys": site_keys.table(),
            "cabinets": [{"id": "north", "safe_share_w": 10_000}, {"id": "south", "safe_share_w": 10_000}],
        }))
        north = site_keys.cabinets["north"]
        presence = "pecc/depot/cabinets/north/presence"
        coordinator.receive(message(presence, signing.sign(north, presence, {"online": True, "at": 1.0})))
        mine = f"pecc/depot/cabinets/{cabinet}/{topic}"
        coordinator.receive(message(mine, signed_as(north, mine, payload, sign)))
        cap_set = "pecc/depot/coordinator/cap/set"
        coordinator.receive(message(cap_set, signed_as(site_keys.site, cap_set, cap, sign)))
        shares = coordinator.plan(coordinator.started + 100.0)
        assert coordinator.cap() >= 20_000
        assert coordinator.ledger.total() <= coordinator.cap()
        assert all(math.isfinite(g.power_w) for g in shares.values())

    asyncio.run(receive())
