"""Simulation scenarios: a day of car arrivals on one profile, as data.

A scenario is a JSON file: the profile it runs on, the time window and
step, the site cap, named charging curves (fraction of the car's maximum
power by SOC) and the cars (arrival, gun, battery, start and target SOC,
maximum power, pack voltage class, curve, departure). Cars are placed on
a gun that is free for their whole stay when the scenario is generated, so
every policy sees exactly the same cars on the same guns.

The two shipped scenarios are generated from a seed by :func:`generate`;
``python -m pecc_plugins.policies.scenario`` rewrites them, and a test
checks that the shipped files are what the generator makes.
"""

from __future__ import annotations

import bisect
import importlib.resources
import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Fraction of a car's maximum power by SOC (%), piecewise linear.
CURVES: dict[str, tuple[tuple[float, float], ...]] = {
    "flat-400v": ((0, 0.9), (10, 1.0), (55, 1.0), (80, 0.55), (90, 0.3), (100, 0.1)),
    "peaky-800v": ((0, 0.7), (10, 1.0), (30, 1.0), (60, 0.6), (80, 0.35), (100, 0.08)),
    "van-400v": ((0, 1.0), (70, 1.0), (85, 0.6), (95, 0.3), (100, 0.1)),
    "bus-800v": ((0, 1.0), (80, 1.0), (90, 0.5), (100, 0.2)),
}

SCENARIOS_DIR = "scenarios"


@dataclass(frozen=True, slots=True)
class Car:
    """One visit: the car plugs into ``gun`` at ``arrive_s`` and leaves at ``depart_s``."""

    arrive_s: float
    depart_s: float
    gun: str
    battery_kwh: float
    soc_start: float
    soc_target: float
    power_max_w: float
    voltage_nominal: float
    curve: str

    def voltage(self, soc: float) -> float:
        """The pack voltage at ``soc``: rises about 20 % from empty to full."""
        return self.voltage_nominal * (0.9 + 0.2 * soc / 100.0)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    profile: str
    seed: int
    start_s: float
    end_s: float
    step_s: float
    site_power_max_w: float | None
    curves: dict[str, tuple[tuple[float, float], ...]]
    cars: tuple[Car, ...]

    def wanted(self, car: Car, soc: float) -> float:
        """What ``car`` would draw at ``soc`` (W) if nothing limited it."""
        points = self.curves[car.curve]
        socs = [p[0] for p in points]
        i = bisect.bisect_right(socs, soc)
        if i == 0:
            return car.power_max_w * points[0][1]
        if i == len(points):
            return car.power_max_w * points[-1][1]
        (s0, f0), (s1, f1) = points[i - 1], points[i]
        return car.power_max_w * (f0 + (f1 - f0) * (soc - s0) / (s1 - s0))

    def to_json(self) -> str:
        data = asdict(self)
        data["curves"] = {k: [list(p) for p in v] for k, v in self.curves.items()}
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Scenario:
        data: dict[str, Any] = json.loads(text)
        data["curves"] = {k: tuple(tuple(p) for p in v) for k, v in data["curves"].items()}
        data["cars"] = tuple(Car(**c) for c in data["cars"])
        return cls(**data)


class ScenarioError(Exception):
    """A scenario file cannot be used; the message says which and why."""


def shipped() -> dict[str, Path]:
    """The scenarios that come with the plugin, by name."""
    directory = Path(str(importlib.resources.files("pecc_plugins.policies"))) / SCENARIOS_DIR
    return {p.stem: p for p in sorted(directory.glob("*.json"))}


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a scenario file by path."""
    path = shipped().get(name_or_path) or Path(name_or_path)
    try:
        scenario = Scenario.from_json(path.read_text())
    except FileNotFoundError:
        known = ", ".join(shipped()) or "none"
        raise ScenarioError(f"no scenario {name_or_path!r} (shipped: {known})") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise ScenarioError(f"scenario {path}: not a valid scenario file ({exc})") from None
    unknown = {c.curve for c in scenario.cars} - set(scenario.curves)
    if unknown:
        raise ScenarioError(f"scenario {path}: cars use unknown curves {sorted(unknown)}")
    return scenario


# -- generating the shipped scenarios ------------------------------------------


@dataclass(frozen=True, slots=True)
class Traffic:
    """How arrivals of one kind of site look; the generator draws from these ranges."""

    per_hour: float
    arrive_from_s: float
    arrive_until_s: float
    dwell_s: tuple[float, float]
    depart_at_s: tuple[float, float] | None  # fixed departure window (depot), else arrival + dwell
    battery_kwh: tuple[float, float]
    soc_start: tuple[float, float]
    soc_target: tuple[float, float]
    fleet: tuple[tuple[str, float, float, float], ...]  # (curve, voltage, min kW, max kW)


HIGHWAY = Traffic(
    per_hour=12.0,
    arrive_from_s=14 * 3600,
    arrive_until_s=19 * 3600,
    dwell_s=(25 * 60, 55 * 60),
    depart_at_s=None,
    battery_kwh=(50, 110),
    soc_start=(5, 40),
    soc_target=(80, 90),
    fleet=(("flat-400v", 400, 50, 150), ("peaky-800v", 800, 150, 270)),
)

DEPOT = Traffic(
    per_hour=30.0,
    arrive_from_s=18 * 3600,
    arrive_until_s=23 * 3600,
    dwell_s=(0, 0),
    depart_at_s=(29 * 3600, 31 * 3600),
    battery_kwh=(70, 400),
    soc_start=(10, 45),
    soc_target=(95, 100),
    fleet=(("van-400v", 400, 40, 80), ("bus-800v", 800, 60, 150)),
)


def generate(
    name: str,
    description: str,
    profile: str,
    guns: list[str],
    traffic: Traffic,
    seed: int,
    site_power_max_w: float | None,
    step_s: float,
) -> Scenario:
    """Poisson arrivals over the window, each on the first gun free for its stay."""
    rnd = random.Random(seed)
    busy_until = dict.fromkeys(guns, 0.0)
    cars = []
    t = traffic.arrive_from_s
    while True:
        t += rnd.expovariate(traffic.per_hour / 3600.0)
        if t >= traffic.arrive_until_s:
            break
        curve, voltage, lo_kw, hi_kw = rnd.choice(traffic.fleet)
        depart = (
            t + rnd.uniform(*traffic.dwell_s) if traffic.depart_at_s is None else rnd.uniform(*traffic.depart_at_s)
        )
        gun = next((g for g in guns if busy_until[g] <= t), None)
        if gun is None:
            continue  # every gun taken: the driver goes elsewhere
        busy_until[gun] = depart
        cars.append(
            Car(
                arrive_s=round(t),
                depart_s=round(depart),
                gun=gun,
                battery_kwh=round(rnd.uniform(*traffic.battery_kwh)),
                soc_start=round(rnd.uniform(*traffic.soc_start), 1),
                soc_target=round(rnd.uniform(*traffic.soc_target)),
                power_max_w=round(rnd.uniform(lo_kw, hi_kw)) * 1000.0,
                voltage_nominal=float(voltage),
                curve=curve,
            )
        )
    end = max((c.depart_s for c in cars), default=traffic.arrive_until_s)
    return Scenario(
        name=name,
        description=description,
        profile=profile,
        seed=seed,
        start_s=traffic.arrive_from_s,
        end_s=float(end),
        step_s=step_s,
        site_power_max_w=site_power_max_w,
        curves={c[0]: CURVES[c[0]] for c in traffic.fleet},
        cars=tuple(cars),
    )


def standard() -> list[Scenario]:
    """The two shipped scenarios, exactly as generated from their seeds."""
    from pecc_core.profile import load as load_profile

    cabinet = [g.id for g in load_profile("cabinet-uu12").guns]
    depot = [g.id for g in load_profile("sim-full").guns]
    return [
        generate(
            "highway-afternoon",
            "A busy highway afternoon: 12 arrivals an hour for 5 hours on the 6-gun, "
            "360 kW cabinet under a 300 kW grid connection.",
            "cabinet-uu12",
            cabinet,
            HIGHWAY,
            seed=20261124,
            site_power_max_w=300_000.0,
            step_s=5.0,
        ),
        generate(
            "depot-night",
            "A 72-gun depot night: vans and buses arrive 18:00-23:00 and leave 05:00-07:00, "
            "48 modules (1.44 MW) under a 1 MW grid connection.",
            "sim-full",
            depot,
            DEPOT,
            seed=72,
            site_power_max_w=1_000_000.0,
            step_s=30.0,
        ),
    ]


def main() -> None:
    """Rewrite the shipped scenario files from the generator."""
    directory = Path(__file__).parent / SCENARIOS_DIR
    directory.mkdir(exist_ok=True)
    for scenario in standard():
        (directory / f"{scenario.name}.json").write_text(scenario.to_json())
        print(f"{scenario.name}: {len(scenario.cars)} cars")


if __name__ == "__main__":
    main()
