"""secc-sim against a gun whose CP/PP refuses: it backs off, and says why the PECC refused.

Before, a refused session was retried at once (about 290 sessions/s,
flooding the PECC's log). Now each failure in a row doubles the wait
(``retry_min`` .. ``retry_max``), and the failure reason quotes the PECC.
"""

from __future__ import annotations

from collections.abc import Callable

from pecc_core.profile.model import Profile
from pecc_core.testing import running, sim_overrides
from pecc_plugins.seccsim.runner import GunSimulator, RunOptions, simulate
from pecc_plugins.seccsim.scenario import from_mapping
from pecc_plugins.seccsim.session import SessionOptions
from pecc_plugins.seccsim.stats import GunProgress, RunStats
from pecc_plugins.simio import SimSupervision

from .test_seccsim_against_pecc import FAST_TIMINGS, settled, urls


def test_the_retry_wait_doubles_per_failure_in_a_row_up_to_the_cap() -> None:
    options = RunOptions(retry_min=0.5, retry_max=4.0)
    gun = GunSimulator("ws://x", GunProgress("ws://x"), from_mapping({}), options, RunStats())
    waits = []
    for _ in range(6):
        gun._failed("refused")
        waits.append(gun.retry_delay())
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_a_refusing_gun_costs_a_few_sessions_with_the_pecc_reason(
    make_profile: Callable[..., Profile], can_channel: str
) -> None:
    profile = make_profile("sim", {**sim_overrides(can_channel), **FAST_TIMINGS})
    stats = RunStats()
    async with running(profile) as runtime:
        supervision = runtime.station.io.supervision
        assert isinstance(supervision, SimSupervision)
        supervision.allow("1-1", False)
        target = urls(profile, runtime.transport.port)[:1]
        await settled(target[0])
        # 1 + 2 + 4 s of waits fit in 8 s of virtual time: exactly 4 sessions
        options = RunOptions(
            sessions=1000,
            session=SessionOptions(time_scale=50),
            duration=8.0,
            retry_min=1.0,
        )
        await simulate(target, from_mapping({}), options, stats)
    assert stats.sessions_failed == 4, stats.failures
    assert stats.sessions_ok == 0
    assert all("CP/PP" in reason for reason in stats.failures), stats.failures
