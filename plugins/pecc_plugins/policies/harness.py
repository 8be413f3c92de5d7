"""A deterministic replay of a scenario through a policy: no sockets, simulated time.

Each step the harness does what the station would: it builds every gun's
:class:`GunDemand` from the car plugged into it, asks the policy, applies
the answer to the module pool (a module the policy leaves off every gun is
released; the station has ramped its gun down by the next step), and lets
each car draw ``min(what its curve wants, the gun's cap, what its modules
give)``. Then it advances the cars' SOC and records the figures of
:class:`Report`.

Nothing depends on the wall clock or on dict order of anything but the
profile and the scenario, so the same scenario, profile and policy give
the same report, to the last digit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pecc_core.policy import GunDemand, LimitPolicy, PoolView
from pecc_core.power import ModuleId, ModuleState
from pecc_core.profile import Profile
from pecc_plugins.policies.assign import drawing
from pecc_plugins.policies.capacity import Rating, Thermal
from pecc_plugins.policies.scenario import Car, Scenario, ScenarioError

#: The SOC at which the "time to 80 %" is taken.
SOC_MARK = 80.0

#: The modules' own thermal behaviour: each warms towards AMBIENT_C +
#: RISE_C x its load (fraction of its power rating) with time constant
#: TAU_S, and derates itself like the policies' default model, so a policy
#: that ignores temperatures gets less than its caps promise.
AMBIENT_C = 30.0
RISE_C = 45.0
TAU_S = 600.0
HARDWARE = Thermal()


@dataclass(frozen=True, slots=True)
class Report:
    """What one policy achieved on one scenario."""

    policy: str
    cars: int
    energy_kwh: float
    reached_80: int  # cars that started below 80 % and reached it before leaving
    below_80: int  # cars that started below 80 %
    mean_to_80_min: float
    p95_to_80_min: float
    fairness: float  # time-weighted Jain index of delivered/wanted among cars charging together
    peak_kw: float
    cap_kw: float | None
    over_cap_steps: int
    switches: int  # module relay closures onto a gun other than the one it was on
    hot_moves: int  # modules handed straight from a gun drawing current to another (must be 0)
    hottest_c: float  # the hottest any module got


@dataclass(slots=True)
class _Session:
    car: Car
    soc: float


@dataclass(slots=True)
class _Tally:
    energy_j: float = 0.0
    peak_w: float = 0.0
    over_cap: int = 0
    switches: int = 0
    hot_moves: int = 0
    hottest_c: float = AMBIENT_C
    jain_weighted: float = 0.0
    jain_time: float = 0.0
    to_80_s: list[float] = field(default_factory=list)
    below_80: int = 0


def run(scenario: Scenario, profile: Profile, policy: LimitPolicy, name: str) -> Report:
    """Replay ``scenario`` on ``profile``'s guns and modules through ``policy``."""
    guns = {g.id: g for g in profile.guns}
    missing = sorted({c.gun for c in scenario.cars} - set(guns))
    if missing:
        raise ScenarioError(f"scenario {scenario.name!r} uses guns {missing} that profile {profile.name!r} lacks")
    modules = {
        m.id: ModuleState(
            m.address, m.voltage_min, m.voltage_max, m.current_max, m.power_max,
            online=True, temperature=AMBIENT_C, bus=m.bus,
        )
        for m in profile.power.modules
    }
    reach = {m.id: frozenset(m.guns) for m in profile.power.modules}
    assigned: dict[ModuleId, str | None] = dict.fromkeys(modules)
    arrivals = sorted(scenario.cars, key=lambda c: (c.arrive_s, c.gun))
    plugged: dict[str, _Session] = {}
    tally = _Tally()
    cap = scenario.site_power_max_w
    dt = scenario.step_s
    steps = math.ceil((scenario.end_s - scenario.start_s) / dt)
    next_car = 0
    for step in range(steps):
        now = scenario.start_s + step * dt
        for gun, session in list(plugged.items()):
            if session.car.depart_s <= now:
                del plugged[gun]
        while next_car < len(arrivals) and arrivals[next_car].arrive_s <= now:
            car = arrivals[next_car]
            plugged[car.gun] = _Session(car, car.soc_start)
            tally.below_80 += car.soc_start < SOC_MARK
            next_car += 1
        demands = [_demand(scenario, guns[g].power_max, guns[g].current_max, plugged.get(g), g) for g in guns]
        pool = PoolView(modules, reach, dict(assigned), profile.power.max_modules_per_gun, cap)
        allocation = policy.allocate(demands, pool)
        owner = {a: gun for gun, addresses in allocation.modules.items() for a in addresses}
        loaded = {d.gun for d in demands if drawing(d)}
        for address in modules:
            old, new = assigned[address], owner.get(address)
            if new is not None and new != old:
                tally.switches += 1
                tally.hot_moves += old in loaded
            assigned[address] = new
        drawn = _draw(demands, allocation.power, modules, owner)
        tally.hottest_c = max(tally.hottest_c, _heat(modules, owner, drawn, dt))
        _advance(tally, plugged, drawn, now, dt, cap)
    return _report(name, scenario, tally, cap)


def _demand(scenario: Scenario, gun_power: float, gun_current: float, session: _Session | None, gun: str) -> GunDemand:
    if session is None or session.soc >= session.car.soc_target:
        return GunDemand(gun, False, 0.0, 0.0, 0.0)
    car = session.car
    voltage = car.voltage(session.soc)
    wanted = min(scenario.wanted(car, session.soc), gun_power, gun_current * voltage)
    return GunDemand(
        gun,
        True,
        voltage,
        wanted / voltage,
        min(car.power_max_w, gun_power, gun_current * voltage),
        soc=session.soc,
        since=car.arrive_s,
    )


def _draw(
    demands: Sequence[GunDemand],
    caps: Mapping[str, float],
    modules: dict[ModuleId, ModuleState],
    owner: dict[ModuleId, str],
) -> dict[str, tuple[float, float]]:
    """(drawn, wanted) power per charging gun: the car's want within the cap and its modules."""
    capability: dict[str, float] = {}
    by_gun = {d.gun: d for d in demands}
    for address, gun in owner.items():
        rating = Rating.of(modules[address], HARDWARE)
        if rating is not None:
            capability[gun] = capability.get(gun, 0.0) + rating.at(by_gun[gun].voltage)
    drawn = {}
    for d in demands:
        if d.active:
            wanted = d.voltage * d.current
            drawn[d.gun] = (min(wanted, caps.get(d.gun, 0.0), capability.get(d.gun, 0.0)), wanted)
    return drawn


def _heat(
    modules: dict[ModuleId, ModuleState], owner: dict[ModuleId, str], drawn: dict[str, tuple[float, float]], dt: float
) -> float:
    """Move every module's temperature towards what its load holds it at; the hottest (°C)."""
    count: dict[str, int] = {}
    for gun in owner.values():
        count[gun] = count.get(gun, 0) + 1
    alpha = 1.0 - math.exp(-dt / TAU_S)
    hottest = 0.0
    for address, module in modules.items():
        on = owner.get(address)
        load = drawn[on][0] / count[on] / module.power_max if on in drawn and module.power_max else 0.0
        module.temperature += (AMBIENT_C + RISE_C * load - module.temperature) * alpha
        hottest = max(hottest, module.temperature)
    return hottest


def _advance(
    tally: _Tally,
    plugged: dict[str, _Session],
    drawn: dict[str, tuple[float, float]],
    now: float,
    dt: float,
    cap: float | None,
) -> None:
    site = sum(p for p, _ in drawn.values())
    tally.peak_w = max(tally.peak_w, site)
    tally.over_cap += cap is not None and site > cap + 1e-6
    tally.energy_j += site * dt
    shares = [p / w for p, w in drawn.values() if w > 0.0]
    if len(shares) >= 2:
        squares = sum(x * x for x in shares)
        jain = sum(shares) ** 2 / (len(shares) * squares) if squares > 0 else 1.0
        tally.jain_weighted += jain * dt
        tally.jain_time += dt
    for gun, (power, _) in drawn.items():
        session = plugged[gun]
        before = session.soc
        session.soc = min(100.0, before + power * dt / (session.car.battery_kwh * 36_000.0))
        if before < SOC_MARK <= session.soc and session.car.soc_start < SOC_MARK:
            tally.to_80_s.append(now + dt - session.car.arrive_s)


def _report(name: str, scenario: Scenario, tally: _Tally, cap: float | None) -> Report:
    times = sorted(tally.to_80_s)
    p95 = times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)] if times else math.nan
    return Report(
        policy=name,
        cars=len(scenario.cars),
        energy_kwh=tally.energy_j / 3.6e6,
        reached_80=len(times),
        below_80=tally.below_80,
        mean_to_80_min=sum(times) / len(times) / 60.0 if times else math.nan,
        p95_to_80_min=p95 / 60.0,
        fairness=tally.jain_weighted / tally.jain_time if tally.jain_time else 1.0,
        peak_kw=tally.peak_w / 1000.0,
        cap_kw=cap / 1000.0 if cap is not None else None,
        over_cap_steps=tally.over_cap,
        switches=tally.switches,
        hot_moves=tally.hot_moves,
        hottest_c=tally.hottest_c,
    )
