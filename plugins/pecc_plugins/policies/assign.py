"""Turning module counts per gun into module addresses, moving as little as possible.

``equal`` and ``dynamic`` differ only in how many modules each active gun
should have (its *target*); this module decides *which* modules, with the
rules that keep the station safe and the relays quiet:

- a gun keeps the modules it already holds, up to its target;
- a gun short of its target takes a free module first (unassigned, or
  held by an inactive gun), the scarcest one (reachable by the fewest
  active guns) so that guns with a narrow reach are not blocked;
- only then does it take another gun's surplus. A surplus module of a gun
  that is drawing current is *released* (given to no gun) in this step:
  the station ramps that gun down, switches the module off and opens its
  relay, and the module is free for the short gun in a later step. A
  module is never moved straight from a gun drawing current to another.
- surplus nobody needs stays where it is (no move without a taker).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain

from pecc_core.policy import GunDemand, PoolView
from pecc_core.power import ModuleId
from pecc_plugins.policies.capacity import Thermal, per_gun_limit, ratings


def drawing(demand: GunDemand | None) -> bool:
    """True when the gun is in a session and asking for current: its modules are under load."""
    return demand is not None and demand.active and demand.current > 0.0


def not_under_load(
    modules: Mapping[str, Sequence[ModuleId]], demands: Sequence[GunDemand], pool: PoolView
) -> dict[str, tuple[ModuleId, ...]]:
    """``modules`` without those another gun is drawing current on (they come in a later step).

    For policies that decide modules without looking at where they are now
    (``static`` after a restart or a policy change): the module is left
    off both guns, so the station ramps its holder down and frees it.
    """
    by_gun = {d.gun: d for d in demands}
    return {
        gun: tuple(
            a
            for a in addresses
            if (holder := pool.assigned.get(a)) is None or holder == gun or not drawing(by_gun.get(holder))
        )
        for gun, addresses in modules.items()
    }


def candidates(pool: PoolView, active: Sequence[GunDemand], thermal: Thermal) -> dict[str, dict[ModuleId, float]]:
    """Per active gun, the usable modules it can reach and what each gives at its voltage.

    Modules that cannot deliver at the gun's voltage are left out; modules
    are in ascending order (bus, then address). Computed once per allocation: it is the costly
    part (guns x modules), so each module's reach and rating are looked up
    once, not once per gun, and :meth:`Rating.at` is written out inline.
    Neighbours alike (the same reach and derated rating: a cabinet of one
    model, below its derating temperature) form one run, worked out once
    per gun: 72 guns over 48 such modules are 72 runs, not 3456 modules.
    """
    reach = pool.reach
    runs: list[tuple[tuple[frozenset[str] | None, float, float, float, float], list[ModuleId]]] = []
    for r in ratings(pool, thermal):
        key = (reach.get(r.module), r.voltage_min, r.voltage_max, r.current_max, r.power_max)
        if runs and runs[-1][0] == key:
            runs[-1][1].append(r.module)
        else:
            runs.append((key, [r.module]))
    found: dict[str, dict[ModuleId, float]] = {}
    for d in active:
        gun, voltage = d.gun, d.voltage
        powers: dict[ModuleId, float] = {}
        for (allowed, v_min, v_max, i_max, p_max), addresses in runs:
            if allowed and gun not in allowed:
                continue
            if voltage <= 0.0:  # unknown voltage: the power rating alone (as Rating.at)
                power = p_max
            elif voltage < v_min or voltage > v_max:
                continue
            else:
                power = min(p_max, i_max * voltage)
            if power > 0.0:
                powers.update(dict.fromkeys(addresses, power))
        found[gun] = powers
    return found


def holdings(pool: PoolView) -> dict[str, list[ModuleId]]:
    """The modules switched onto each gun now, in ascending order.

    One pass over the pool, where asking each gun's every candidate whom it
    is assigned to is guns x modules.
    """
    held: dict[str, list[ModuleId]] = {}
    assigned = pool.assigned
    for address in sorted(assigned):
        gun = assigned[address]
        if gun is not None:
            held.setdefault(gun, []).append(address)
    return held


def assign(
    pool: PoolView,
    demands: Sequence[GunDemand],
    targets: Mapping[str, int],
    order: Sequence[str],
    reachable: Mapping[str, Mapping[ModuleId, float]],
) -> dict[str, tuple[ModuleId, ...]]:
    """Modules per gun meeting ``targets`` as far as the pool allows (see the module doc).

    :param targets: desired module count per active gun (capped here by the matrix limit).
    :param order: the active guns in the order they pick, one module per round.
    :param reachable: per active gun, the modules it may take, in ascending order (see :func:`candidates`).
    """
    by_gun = {d.gun: d for d in demands}
    limit = per_gun_limit(pool)
    want = {g: min(targets.get(g, 0), limit) for g in order}
    mine = holdings(pool)
    held = {g: [a for a in mine.get(g, ()) if a in reachable[g]] for g in order}
    kept = {g: held[g][: want[g]] for g in order}
    taken = {a for addresses in kept.values() for a in addresses}
    surplus = {a: g for g in order for a in held[g][want[g] :]}
    scarcity = dict.fromkeys(pool.modules, 0)
    scarcity.update(Counter(chain.from_iterable(reachable[g] for g in order)))

    pending = dict.fromkeys(order, 0)
    hungry = [g for g in order if len(kept[g]) < want[g]]
    while hungry:
        still = []
        for gun in hungry:
            pick = _pick(gun, reachable[gun], taken, surplus, pool, by_gun, scarcity)
            if pick is None:
                continue
            taken.add(pick)
            holder = pool.assigned.get(pick)
            if holder is not None and drawing(by_gun.get(holder)):
                pending[gun] += 1  # released: the holder ramps down first, the gun gets it later
            else:
                kept[gun].append(pick)
            surplus.pop(pick, None)
            if len(kept[gun]) + pending[gun] < want[gun]:
                still.append(gun)
        hungry = still
    for address, holder in surplus.items():  # nobody took it: no move, if the matrix allows
        if len(kept[holder]) < limit:
            kept[holder].append(address)
    return {g: tuple(sorted(a)) for g, a in kept.items()}


def _pick(
    gun: str,
    reachable: Iterable[ModuleId],
    taken: set[ModuleId],
    surplus: Mapping[ModuleId, str],
    pool: PoolView,
    by_gun: Mapping[str, GunDemand],
    scarcity: Mapping[ModuleId, int],
) -> ModuleId | None:
    """The module ``gun`` takes next: a free one (scarcest first), else another gun's surplus."""
    best_free: tuple[int, ModuleId] | None = None
    best_surplus: tuple[int, ModuleId] | None = None
    for address in reachable:
        if address in taken:
            continue
        key = (scarcity[address], address)
        if address in surplus:
            if best_surplus is None or key < best_surplus:
                best_surplus = key
            continue
        holder = pool.assigned.get(address)
        owner = by_gun.get(holder) if holder is not None else None
        if owner is not None and owner.active and holder != gun:
            continue  # kept by an active gun for its own target
        if best_free is None or key < best_free:
            best_free = key
    best = best_free or best_surplus
    return None if best is None else best[1]
