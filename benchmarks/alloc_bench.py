"""What one allocation costs: the ``dynamic`` policy on ``sim-full``'s 72 guns over 48 modules.

The state of the charging benchmark: every gun active, the first 48
charging (each at its own voltage, holding the modules the previous
allocation gave it), the other 24 waiting for a module. Each allocation
moves every charging gun's voltage a little, as a car's targetValues do,
so nothing can be answered from a previous call. CPU time
(``time.process_time``), the median of ``--runs`` runs of ``--count``
allocations: the machine's other load does not count.

    python -m benchmarks.alloc_bench [--count 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from pecc_core.policy import GunDemand, PoolView
from pecc_core.power import ModuleState
from pecc_core.profile import load as load_profile
from pecc_plugins.policies.dynamic import make_dynamic

CHARGING = 48


def state() -> tuple[list[GunDemand], PoolView]:
    """The demands and the pool of ``sim-full`` in the middle of the charging benchmark."""
    profile = load_profile("sim-full")
    modules = {
        m.address: ModuleState(m.address, m.voltage_min, m.voltage_max, m.current_max, m.power_max, online=True)
        for m in profile.power.modules
    }
    demands = [
        GunDemand(g.id, True, 380.0 + i if i < CHARGING else 0.0, 100.0 if i < CHARGING else 0.0, g.power_max,
                  soc=40.0 + i % 30 if i < CHARGING else None, since=float(i))
        for i, g in enumerate(profile.guns)
    ]
    pool = PoolView(
        modules=modules,
        reach={m.address: frozenset(m.guns) for m in profile.power.modules},
        assigned=dict.fromkeys(modules),
        max_modules_per_gun=profile.power.max_modules_per_gun,
        site_power_max=profile.site.max_power_w,
    )
    return demands, pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    demands, pool = state()
    policy = make_dynamic({})
    allocation = policy.allocate(demands, pool)
    assigned = {a: g for g, addresses in allocation.modules.items() for a in addresses}
    pool = replace(pool, assigned={a: assigned.get(a) for a in pool.modules})
    wobbled = [
        [replace(d, voltage=d.voltage + 0.01 * k) if d.voltage else d for d in demands] for k in range(16)
    ]
    runs = []
    for _ in range(args.runs):
        start = time.process_time()
        for k in range(args.count):
            policy.allocate(wobbled[k % 16], pool)
        runs.append((time.process_time() - start) / args.count * 1e6)
    print(f"dynamic allocation, 72 guns over 48 modules: {statistics.median(runs):.0f} us CPU (median of {args.runs})")


if __name__ == "__main__":
    main()
