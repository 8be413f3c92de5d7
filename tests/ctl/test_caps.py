"""Run-time limit updates: validation is total (a refusal names every bad key) and caps only lower."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from pecc_core.caps import CapsError, parse_update
from pecc_core.model import OperatorCaps
from pecc_core.profile.model import GunConfig

GUNS = ("1-1", "1-2")
PRESENT = {g: OperatorCaps() for g in GUNS}
CONFIG = GunConfig("1-1", "secc1", "/g", 150.0, 1000.0, 5.0, 200.0, 60_000.0, 2.0, False)

values = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True), st.text(max_size=3)
)
caps = st.dictionaries(st.sampled_from(["max_current_a", "max_power_w", "priority", "bogus"]), values, max_size=3)
updates = st.dictionaries(
    st.sampled_from(["site_max_power_w", "guns", "policy", "other"]),
    st.one_of(values, st.dictionaries(st.sampled_from([*GUNS, "9-9"]), caps, max_size=2)),
    max_size=3,
)


@given(updates)
def test_an_update_is_either_refused_with_reasons_or_entirely_valid(raw: dict[str, Any]) -> None:
    try:
        update = parse_update(raw, GUNS, PRESENT, {}, None)
    except CapsError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        return
    assert set(update.guns) <= set(GUNS)
    site = update.site.get("site_max_power_w")
    assert site is None or site >= 0
    for gun_caps in update.guns.values():
        for cap in (gun_caps.max_current_a, gun_caps.max_power_w):
            assert cap is None or cap >= 0
        capped = gun_caps.apply(CONFIG)
        assert capped.current_max <= CONFIG.current_max and capped.power_max <= CONFIG.power_max
        assert capped.current_min <= capped.current_max


def test_null_removes_a_cap_and_other_caps_stay() -> None:
    present = {"1-1": OperatorCaps(max_current_a=50, max_power_w=20_000, priority=1), "1-2": OperatorCaps()}
    update = parse_update({"guns": {"1-1": {"max_current_a": None}}}, GUNS, present, {}, None)
    assert update.guns["1-1"] == OperatorCaps(max_current_a=None, max_power_w=20_000, priority=1)
    assert update.policy is None and update.site == {}
