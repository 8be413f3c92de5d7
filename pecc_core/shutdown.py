"""Stopping a station in the right order: sessions ended first, connections last.

On SIGTERM/SIGINT (``systemctl stop``) the runtime calls :func:`wind_down`
while the transport still runs, so every SECC keeps getting status:

1. no gun accepts a new session (``cableCheck`` is refused, category
   ``inoperative``); every gun with a session in progress has its SECC
   asked to end it (``stopCharging``); the SECC ramps down and opens as in
   any session end;
2. after :data:`SECC_GRACE` s, the guns still not in standby are taken
   down by the PECC itself through the normal safe path (outputs 0, current
   down, contactors open, discharge verified: :meth:`Gun.shutdown`);
3. if :data:`BOUND` s pass and some gun is still not safe, the emergency
   path: every module off and every contactor opened at once, whatever the
   current; the observers are told which guns
   (``pecc_station_emergency``: the flight recorder writes an incident).

Once every gun is safe, the SECCs still connected get one more status
period (:func:`told`), so the last status before the close shows the
output below 60 V (a status sent just before the discharge was verified
could still show 61 V). Only then does the runtime close the connections
(1001, going away) and stop the drivers. :data:`BOUND` plus closing the connections
(``pepws`` waits at most 2 s per close, in parallel) and the drivers stays
under the systemd unit's ``TimeoutStopSec`` (20 s, ``contrib/systemd``),
after which systemd would SIGKILL the PECC with the hardware as it was.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pecc_core.asyncutil import poll_until
from pecc_core.gun.table import ACTIVE_STATES, GunState

if TYPE_CHECKING:
    from pecc_core.gun import Gun
    from pecc_core.station import Station

log = logging.getLogger(__name__)

#: s the SECCs get to end their sessions after stopCharging
SECC_GRACE = 6.0
#: s from the signal to every gun safe (the PECC's own safe-down takes at most ~7 s)
BOUND = 14.0
#: s a stopCharging request may take before the gun is taken down without waiting for its SECC
STOP_CHARGING_TIMEOUT = 1.0
#: s the emergency path waits for the contactors' feedback
EMERGENCY_WAIT = 1.0


def settled(gun: Gun) -> bool:
    """Standby (or inoperative) with no safe-down still running: nothing to take down."""
    return gun.state in (GunState.STANDBY, GunState.INOPERATIVE) and not gun.holds_modules


async def wind_down(station: Station, bound: float = BOUND, grace: float = SECC_GRACE) -> bool:
    """Every gun to standby with the SECCs still connected; True if it was reached within ``bound``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    guns = list(station.guns.values())
    for gun in guns:  # an SECC that ends its session must not start the next one meanwhile
        gun.close_for_new_sessions("the PECC is stopping")
    charging = [gun for gun in guns if gun.state in ACTIVE_STATES and gun.secc is not None]
    if charging:
        log.info("stopping: asking %d SECCs to end their sessions (stopCharging)", len(charging))
        await asyncio.gather(*(_stop_charging(gun) for gun in charging))

    def all_settled() -> bool:
        return all(settled(gun) for gun in guns)

    if not await poll_until(all_settled, max(0.0, grace - (loop.time() - started)), station.cycle):
        late = [gun for gun in guns if not settled(gun)]
        log.warning(
            "stopping: guns %s still in a session after %.0f s; taking them down",
            [gun.id for gun in late],
            grace,
        )
        # the gathered shutdowns run on (station stop waits for them again); their errors are collected
        taking_down = asyncio.ensure_future(asyncio.gather(*(gun.shutdown() for gun in late), return_exceptions=True))
        await poll_until(all_settled, max(0.0, bound - (loop.time() - started)), station.cycle)
        if taking_down.done():
            for gun, result in zip(late, taking_down.result(), strict=True):
                if isinstance(result, BaseException):
                    log.error("gun %s: taking it down failed: %r", gun.id, result)
    if all_settled():
        log.info("stopping: every gun in standby after %.1f s", loop.time() - started)
        await told(station)
        return True
    await emergency(station, [gun for gun in guns if not settled(gun)], bound)
    return False


async def told(station: Station) -> None:
    """Wait one status period if an SECC is connected: its last status before the close shows the safe state."""
    if any(gun.secc is not None for gun in station.guns.values()):
        await asyncio.sleep(station.profile.timings.status_interval_ms / 1000)


async def _stop_charging(gun: Gun) -> None:
    link = gun.secc
    if link is None:
        return
    try:
        async with asyncio.timeout(STOP_CHARGING_TIMEOUT):
            await link.stop_charging()
    except Exception as exc:  # a timeout or an error reply: the gun is taken down anyway
        log.warning("gun %s: stopCharging not confirmed (%s); taking it down after the grace time", gun.id, exc)


async def emergency(station: Station, guns: list[Gun], bound: float = BOUND) -> None:
    """The bound ran out: every module off and these guns' contactors open at once; then the observers told."""
    reason = f"not safe within {bound:g} s of the stop: emergency off (modules off, contactors opened at once)"
    log.error("stopping: guns %s %s", [gun.id for gun in guns], reason)
    try:
        station.power.off(list(station.power.modules))
    except Exception:
        log.exception("emergency off: switching the modules off failed")
    async def open_contactors(gun: Gun) -> None:
        async with asyncio.timeout(EMERGENCY_WAIT):
            await gun.contactors.switch(False)  # commanded open: the fault check agrees

    results = await asyncio.gather(*(open_contactors(gun) for gun in guns), return_exceptions=True)
    for gun, result in zip(guns, results, strict=True):
        if isinstance(result, BaseException):
            log.error("emergency off: gun %s: opening the contactors failed: %r", gun.id, result)
    station.plugins.station_emergency(station, guns, reason)
