"""The site's safety invariant, property-tested on the protocol itself.

A coordinator (the ledger) and cabinets (share holders) exchange grants
and reports through a broker that delays, reorders nothing (one MQTT
session keeps order per topic) but may deliver late, lose the connection,
or let reports go stale. Whatever the sequence, what the cabinets may
draw together never exceeds the grid cap. The oracle is written from the
rule in docs/site.md, not from the ledger's code: the sum of the limits
the cabinets apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from pecc_plugins.site.holder import ShareHolder
from pecc_plugins.site.ledger import Ledger

TTL = 3.0
GRACE = 1.0
CABINETS = ("a", "b", "c")


@dataclass
class Wire:
    """Messages in flight: (deliver at, what)."""

    to_cabinets: list[tuple[float, str, int, float, float]] = field(default_factory=list)
    to_coordinator: list[tuple[float, str, int, int | None]] = field(default_factory=list)


#: Round figures make coincidences (one cabinet's decrease, another's increase) likely.
POWER = st.one_of(st.sampled_from([0.0, 50_000.0, 100_000.0, 200_000.0]), st.floats(0, 200_000))
step = st.one_of(
    st.tuples(st.just("plan"), st.lists(POWER, min_size=3, max_size=3), st.lists(st.sampled_from([0.0, 0.3, GRACE * 0.9]), min_size=3, max_size=3)),
    st.tuples(st.just("report"), st.sampled_from(CABINETS), st.sampled_from([0.0, 0.2, 1.0, 5.0])),
    st.tuples(st.just("drop"), st.sampled_from(CABINETS), st.just(())),
    st.tuples(st.just("wait"), st.sampled_from([0.1, 0.5, 1.0, 2.5]), st.just(())),
)


@settings(max_examples=500, deadline=None)
@given(
    cap=st.sampled_from([60_000.0, 100_000.0, 250_000.0]),
    safe=st.lists(st.sampled_from([0.0, 10_000.0, 20_000.0]), min_size=3, max_size=3),
    steps=st.lists(step, max_size=60),
)
def test_the_cabinets_never_draw_more_than_the_cap_together(cap: float, safe: list[float], steps: list) -> None:
    ledger = Ledger(dict(zip(CABINETS, safe, strict=True)), TTL, GRACE)
    holders = {c: ShareHolder(s) for c, s in zip(CABINETS, safe, strict=True)}
    wire = Wire()
    now = 0.0

    def check(at: float) -> None:
        drawn = sum(h.limit(at) for h in holders.values())
        assert drawn <= cap + 1e-6, (at, drawn, {c: h.limit(at) for c, h in holders.items()})

    def deliver() -> None:
        """Everything due by ``now``, one message at a time in arrival order, checked after each."""
        due = sorted((m for m in wire.to_cabinets if m[0] <= now), key=lambda m: m[0])
        for item in due:
            wire.to_cabinets.remove(item)
            at, cabinet, seq, power, expires_at = item
            holders[cabinet].receive("e1", seq, power, min(TTL, expires_at - at), at)
            check(at)
        for item in [m for m in wire.to_coordinator if m[0] <= now]:
            wire.to_coordinator.remove(item)
            _, cabinet, seen, applying = item
            ledger.confirm(cabinet, seen, applying, lowered=True)  # the draw follows the limit at once

    for kind, what, delay in steps:
        if kind == "plan":
            wanted = dict(zip(CABINETS, what, strict=True))
            for cabinet, grant in ledger.plan(wanted, cap, now).items():
                assert grant.power_w >= ledger.safe[cabinet]
                # in order per cabinet (one MQTT session), each late by its own delay
                arrives = max([now + delay[CABINETS.index(cabinet)]] + [m[0] for m in wire.to_cabinets if m[1] == cabinet])
                wire.to_cabinets.append((arrives, cabinet, grant.seq, grant.power_w, now + TTL))
        elif kind == "report":  # generated now, arrives late (a stale report)
            held = holders[what].current(now)
            wire.to_coordinator.append((now + delay, what, holders[what].seen, None if held is None else held.seq))
        elif kind == "drop":
            holders[what].drop()
        else:
            now += what
        deliver()
        check(now)
        ledger.expire(now)
        assert ledger.total() <= cap + 1e-6


@given(
    safe=st.lists(st.floats(0, 20_000), min_size=3, max_size=3),
    first=st.lists(st.floats(0, 200_000), min_size=3, max_size=3),
    second=st.lists(st.floats(0, 200_000), min_size=3, max_size=3),
)
def test_a_lowered_cap_raises_nobody_while_the_sum_is_above_it(safe: list[float], first: list[float], second: list[float]) -> None:
    ledger = Ledger(dict(zip(CABINETS, safe, strict=True)), TTL, GRACE)
    ledger.plan(dict(zip(CABINETS, first, strict=True)), 300_000, 0.0)
    before = {c: ledger.accounted(c) for c in CABINETS}
    over = ledger.total() > 60_000
    ledger.plan(dict(zip(CABINETS, second, strict=True)), 60_000, 0.5)
    if over:
        assert all(ledger.accounted(c) == before[c] for c in CABINETS)  # nobody counted higher
    else:
        assert ledger.total() <= 60_000 + 1e-6


def test_freed_power_goes_to_another_cabinet_only_once_the_decrease_is_confirmed() -> None:
    ledger = Ledger({"a": 0.0, "b": 0.0}, TTL, GRACE)
    first = ledger.plan({"a": 100_000, "b": 0}, 100_000, 0.0)
    assert first["a"].power_w == 100_000
    swap = ledger.plan({"a": 0, "b": 100_000}, 100_000, 0.1)
    assert swap["a"].power_w == 0 and swap["b"].power_w == 0  # a's 100 kW may still be drawn
    ledger.confirm("a", seen=swap["a"].seq, applying=swap["a"].seq, lowered=False)
    assert ledger.plan({"a": 0, "b": 100_000}, 100_000, 0.2)["b"].power_w == 0  # not lowered yet
    last = ledger.plan({"a": 0, "b": 100_000}, 100_000, 0.3)
    ledger.confirm("a", seen=last["a"].seq, applying=last["a"].seq, lowered=True)
    assert ledger.plan({"a": 0, "b": 100_000}, 100_000, 0.4)["b"].power_w == 100_000


def test_an_unconfirmed_decrease_frees_the_power_once_the_old_grant_lapsed() -> None:
    ledger = Ledger({"a": 0.0, "b": 0.0}, TTL, GRACE)
    ledger.plan({"a": 100_000, "b": 0}, 100_000, 0.0)
    assert ledger.plan({"a": 0, "b": 100_000}, 100_000, 1.0)["b"].power_w == 0
    assert ledger.plan({"a": 0, "b": 100_000}, 100_000, TTL + GRACE + 0.01)["b"].power_w == 100_000
