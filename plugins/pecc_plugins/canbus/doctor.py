"""What ``pecc doctor`` checks for a CAN power driver: the interface, the modules, the bus load.

- The interface (socketcan): it exists and is up, at the profile's
  bitrate, with automatic bus-off recovery (``restart-ms``) and the
  transmit queue docs/bring-up.md recommends (:mod:`.iplink`).
- The modules: where the interface is up, the bus is listened to for
  :data:`LISTEN_S` seconds as ``pecc can monitor`` does (never sending),
  and each configured module is reported heard or not. UU and Infy
  modules answer requests only, so a bus nobody polls is quiet: that is
  a warning saying to run the check while ``pecc run`` polls.
- The bus load: the bus budget's estimate of the busiest case, judged
  as ``pecc profiles validate`` judges it (:mod:`.budget`).

Simulated buses (``virtual``, ``timedvirtual``, ``unixcan``) have nothing
on the machine to check; their rows say so.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import can

from pecc_core.doctor import SIMULATED, Check, Finding, fail, ok, warn
from pecc_plugins.canbus.budget import bus_budget
from pecc_plugins.canbus.decoder import Decoded, FrameDecoder
from pecc_plugins.canbus.iplink import LinkState, link_state
from pecc_plugins.canbus.monitor import driver_bus, watch

if TYPE_CHECKING:
    from pecc_core.profile.model import ModuleConfig, PowerBusConfig, Profile
    from pecc_core.registry import Registry
    from pecc_plugins.canbus.link import BusConfig

SIMULATED_INTERFACES = frozenset({"virtual", "timedvirtual", "unixcan"})
#: How long the bus is listened to for the modules' answers (s).
LISTEN_S = 3.0
#: What docs/bring-up.md recommends: restart 100 ms after a bus-off, a transmit queue of 100 frames.
RESTART_MS = 100
TXQUEUELEN = 100
_KEY = "power.driver.params"


def checks(profile: Profile, registry: Callable[[str], Registry]) -> list[Check]:
    """The checks of each of the profile's buses whose driver is a CAN driver with a frame decoder."""
    buses = profile.power.buses
    return [check for power_bus in buses for check in _bus_checks(profile, power_bus, registry, len(buses) > 1)]


def _bus_checks(
    profile: Profile, power_bus: PowerBusConfig, registry: Callable[[str], Registry], named: bool
) -> list[Check]:
    choice = power_bus.driver
    found = driver_bus(registry("power_driver").get(choice.name).factory, choice.params)
    if found is None:
        return []
    bus, decoder = found
    modules = power_bus.modules
    offered = [Check(f"can {bus.channel}", lambda: bus_check(bus, decoder, choice.name, modules))]
    budget = bus_budget(profile, power_bus, registry)
    if budget is not None:
        load = f"can load {power_bus.name}" if named else "can load"
        offered.append(Check(load, lambda: [budget.finding(load)]))
    return offered


async def bus_check(
    bus: BusConfig, decoder: FrameDecoder, vendor: str, modules: tuple[ModuleConfig, ...], listen_s: float = LISTEN_S
) -> list[Finding]:
    """The interface's rows, then, if it is up, those of the modules heard on it."""
    name = f"can {bus.channel}"
    if bus.interface in SIMULATED_INTERFACES:
        return [ok(name, f"{bus.interface}: {SIMULATED}"), ok("modules", SIMULATED)]
    rows: list[Finding] = []
    if bus.interface == "socketcan":
        state = await link_state(bus.channel)
        rows += link_findings(bus, state)
        if state is None or not state.up:
            return rows
    else:
        rows.append(ok(name, f"interface {bus.interface}: not socketcan, its settings are not checked here"))
    try:
        heard = await listen(bus, decoder, listen_s)
    except (can.CanError, OSError, ValueError, NotImplementedError) as exc:
        return [*rows, fail(name, f"cannot open {bus.interface}/{bus.channel}: {exc}",
                            f"check {_KEY}.interface and .channel, and the adapter")]
    return rows + module_findings(heard, vendor, modules, listen_s)


def link_findings(bus: BusConfig, state: LinkState | None) -> list[Finding]:
    """The socketcan interface against the profile's bitrate and docs/bring-up.md."""
    channel, bitrate = bus.channel, bus.bitrate
    name = f"can {channel}"
    bring_up = f"ip link set {channel} up type can bitrate {bitrate} restart-ms {RESTART_MS}"
    if state is None:
        return [fail(name, f"no interface {channel} on this machine",
                     f"connect the CAN adapter (its driver loaded: dmesg), then `{bring_up}` (docs/bring-up.md)")]
    unread = f"check `ip -details link show {channel}` by hand (iproute2 missing, or it did not say)"
    rows = [_up(name, channel, state, bring_up)]
    if state.bitrate is None:
        rows.append(warn(f"{name} bitrate", "not read", unread))
    elif state.bitrate != bitrate:
        rows.append(fail(f"{name} bitrate", f"{state.bitrate} bit/s; the profile says {bitrate} ({_KEY}.bitrate)",
                         f"ip link set {channel} down && {bring_up}"))
    else:
        rows.append(ok(f"{name} bitrate", f"{bitrate} bit/s, as the profile says"))
    if state.restart_ms is None:
        rows.append(warn(f"{name} restart-ms", "not read", unread))
    elif state.restart_ms == 0:
        rows.append(warn(f"{name} restart-ms", "0: after a bus-off the interface stays off until restarted by hand",
                         f"ip link set {channel} down && {bring_up}"))
    else:
        rows.append(ok(f"{name} restart-ms", f"{state.restart_ms} ms: recovers from bus-off by itself"))
    if state.txqueuelen is None:
        rows.append(warn(f"{name} txqueuelen", "not read", f"check `ip link show {channel}` (qlen)"))
    elif state.txqueuelen < TXQUEUELEN:
        rows.append(warn(f"{name} txqueuelen", f"{state.txqueuelen} frames; docs/bring-up.md recommends {TXQUEUELEN} "
                         "(PECC paces its frames; a longer queue absorbs other programs' bursts)",
                         f"ip link set {channel} txqueuelen {TXQUEUELEN}"))
    else:
        rows.append(ok(f"{name} txqueuelen", f"{state.txqueuelen} frames"))
    return rows


def _up(name: str, channel: str, state: LinkState, bring_up: str) -> Finding:
    controller = f", controller {state.can_state}" if state.can_state else ""
    if state.can_state == "BUS-OFF":
        return fail(name, f"bus-off (operstate {state.operstate})",
                    "check the wiring, the termination (60 ohm CAN-H to CAN-L, power off) and every node's bitrate")
    if not state.up:
        return fail(name, f"down (operstate {state.operstate}{controller})", bring_up)
    if state.can_state in ("ERROR-PASSIVE", "ERROR-WARNING"):
        return warn(name, f"up{controller}: the bus sees errors",
                    f"check the wiring and termination; `ip -details -statistics link show {channel}`")
    return ok(name, f"up{controller}")


@dataclass(slots=True)
class Heard:
    """What listening to a bus found: frames in all, and replies per module address."""

    frames: int = 0
    replies: Counter[int] = field(default_factory=Counter)

    def add(self, msg: can.Message, decoded: tuple[Decoded, ...]) -> None:
        self.frames += 1
        self.replies.update({item.module for item in decoded if item.from_module and item.module is not None})


async def listen(bus: BusConfig, decoder: FrameDecoder, seconds: float) -> Heard:
    """Listen to ``bus`` for ``seconds`` (loop time) as ``pecc can monitor`` does, never sending."""
    heard = Heard()
    stop = asyncio.Event()
    timer = asyncio.get_running_loop().call_later(seconds, stop.set)
    try:
        await watch(bus, decoder, heard.add, stop)
    finally:
        timer.cancel()
    return heard


def module_findings(heard: Heard, vendor: str, modules: tuple[ModuleConfig, ...], seconds: float) -> list[Finding]:
    """One row per configured module (or one for them all on a silent bus), one per stranger heard."""
    if not heard.frames:
        return [warn("modules", f"the bus was silent for {seconds:g} s: no module heard",
                     "the modules answer requests only: run `pecc doctor` again while `pecc run` polls them, "
                     "or ask one by hand (docs/bring-up.md, section 2)")]
    rows = []
    for module in modules:
        address = module.address
        what = f"{vendor}, {module.voltage_min:g}-{module.voltage_max:g} V, {module.current_max:g} A"
        if heard.replies[address]:
            rows.append(ok(f"module {address}", f"{what}: {heard.replies[address]} replies in {seconds:g} s"))
        else:
            rows.append(fail(f"module {address}", f"{what}: not heard in {seconds:g} s ({heard.frames} bus frames)",
                             f"check its address and group ({_KEY}.group), its power and its wiring"))
    known = {module.address for module in modules}
    for address in sorted(set(heard.replies) - known):
        rows.append(warn(f"module {address}", f"answers ({heard.replies[address]} replies), not in power.modules",
                         "add it to power.modules, or correct its address"))
    return rows
