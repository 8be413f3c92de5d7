"""The gun's semantics beyond the table: limits, guards, faults and their events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from pecc_core.errors import InoperativeRefused, InternalRefused, ValueRefused
from pecc_core.gun import Event, Gun, GunState
from pecc_core.model import Contactors, Isolation, Operational, Phase, Target
from pecc_core.power import Fault
from pecc_core.station import Station
from pecc_core.testing import eventually

from .gun_rig import instant, instant_profile, instant_station
from .helpers import FakeLink, bring_to, first_module, one_cycle, record

S = GunState


async def test_cable_check_caps_test_voltage_and_reports_isolation(station: Station) -> None:
    gun = station.guns["1-1"]
    gun.ev_session_changed({"ev_max_voltage_volts": 450.0})
    station.io.imd.test_s = 0.2
    await gun.cable_check(900)
    assert gun.report().isolation is Isolation.INVALID
    assert gun.report().contactors is Contactors.CLOSED
    await eventually(lambda: gun.report().driven_voltage > 0, what="test voltage")
    assert gun.report().driven_voltage == 500.0  # CC.1: min(450 + 50, 500), above the EV's 450 V
    # below 5 A and below V / 110 Ω (IEC 61851-23 6.3.1.109): 500 V / 110 Ω = 4.5 A
    await eventually(lambda: gun.report().driven_current > 0, what="test current")
    assert gun.report().driven_current < 4.55
    await eventually(lambda: gun.state is S.READY, what="ready")
    assert gun.report().isolation is Isolation.VALID
    assert gun.report().driven_voltage == 0.0  # ramped back down


async def test_cable_check_fault_ends_in_standby_reporting_the_fault(station: Station) -> None:
    gun = station.guns["1-1"]
    station.io.imd.inject("1-1", Isolation.FAULT)
    await gun.cable_check(500)
    await eventually(lambda: gun.state is S.STANDBY, what="standby")
    assert gun.in_standby()
    assert gun.report().isolation is Isolation.FAULT
    assert gun.report().operational is Operational.OPERATIVE
    await gun.set_contactors(True)  # closing is allowed, but targetValues stay ignored
    await gun.target_values(Target(400, 10, 50, Phase.PRECHARGE))
    assert gun.state is S.READY and gun.report().driven_voltage == 0.0


async def test_isolation_warning_allows_charging(station: Station) -> None:
    gun = station.guns["1-1"]
    station.io.imd.inject("1-1", Isolation.WARNING)
    await bring_to(gun, S.CHARGE)
    assert gun.report().isolation is Isolation.WARNING
    assert gun.report().driven_current > 0


async def test_cp_pp_refusal_keeps_contactors_open(station: Station) -> None:
    gun = station.guns["1-1"]
    station.io.supervision.allow("1-1", False)
    with pytest.raises(InternalRefused, match="CP/PP"):
        await gun.set_contactors(True)
    with pytest.raises(InternalRefused, match="CP/PP"):
        await gun.cable_check(500)
    assert gun.state is S.STANDBY
    assert not station.io.contactors.closed("1-1") and not station.io.contactors.commanded("1-1")
    station.io.supervision.allow("1-1", True)
    await gun.set_contactors(True)
    assert gun.state is S.READY and gun.report().contactors is Contactors.CLOSED


async def test_target_values_ignored_with_contactors_open(station: Station) -> None:
    gun = station.guns["1-1"]
    await gun.target_values(Target(400, 50, 50, Phase.CHARGE))
    assert gun.state is S.STANDBY and gun.target is None
    assert gun.report().driven_voltage == gun.report().driven_current == 0.0


async def test_target_values_ignored_without_isolation_result(station: Station) -> None:
    gun = station.guns["1-1"]
    await gun.set_contactors(True)
    await gun.target_values(Target(400, 50, 50, Phase.CHARGE))
    assert gun.state is S.READY and gun.report().driven_current == 0.0


@pytest.mark.parametrize("state", [S.STANDBY, S.READY, S.CHARGE])
async def test_over_voltage_is_refused_without_side_effect(station: Station, state: GunState) -> None:
    gun = station.guns["1-1"]
    await bring_to(gun, state)
    before = (gun.state, gun.target, gun.report().driven_voltage, gun.report().driven_current)
    with pytest.raises(ValueRefused, match="above the limit 1000 V"):
        await gun.target_values(Target(1000.5, 10, 50, Phase.CHARGE))
    gun.ev_session_changed({"ev_max_voltage_volts": 420.0})
    with pytest.raises(ValueRefused, match="above the limit 420 V"):
        await gun.target_values(Target(421, 10, 50, Phase.CHARGE))
    assert (gun.state, gun.target, gun.report().driven_voltage, gun.report().driven_current) == before


async def test_precharge_uses_the_small_current(station: Station) -> None:
    gun = station.guns["1-1"]
    await bring_to(gun, S.READY)
    await gun.target_values(Target(380, 150, 50, Phase.PRECHARGE))
    assert gun.report().driven_voltage == 380
    assert gun.report().driven_current == gun.config.precharge_current


async def test_current_above_the_available_is_degraded_not_refused(station: Station) -> None:
    gun = station.guns["1-1"]
    await bring_to(gun, S.READY)
    gun.ev_session_changed({"ev_max_current_amperes": 120.0})
    await gun.target_values(Target(400, 500, 50, Phase.CHARGE))
    assert gun.state is S.CHARGE
    assert gun.report().driven_voltage == 400
    assert gun.report().driven_current == 120.0
    await eventually(lambda: gun.report().measured_voltage == 400, what="output at 400 V")  # the power cap counts at it
    gun.ev_session_changed({"charging_profile_max_power_limit_watts": 20_000.0})
    assert gun.report().driven_current == pytest.approx(50.0)  # 20 kW at 400 V, at once


async def test_driven_current_follows_the_allocation(station: Station) -> None:
    gun = station.guns["1-1"]
    await bring_to(gun, S.CHARGE)
    await gun.target_values(Target(500, 200, 50, Phase.CHARGE))
    # a rise climbs on the control cycle (the up-ramp counts loop time; none passed within the request)
    assert gun.report().driven_current == 50.0
    await one_cycle(station)
    # 2 modules x 30 kW at the present 500 V (the rig's output follows its setpoint within the cycle)
    assert gun.report().measured_voltage == 500.0
    assert gun.report().driven_current == 120.0
    gun.set_allowance(10_000.0)
    assert gun.report().driven_current == pytest.approx(20.0)  # a lower allowance applies at once


async def test_postcharge_drives_zero_and_keeps_measuring(station: Station) -> None:
    gun = station.guns["1-1"]
    await bring_to(gun, S.CHARGE)
    for a in station.pool.modules_of("1-1"):
        instant(station.power).residual[a] = 390.0  # the car's side still holds voltage
    await gun.target_values(Target(0, 0, 80, Phase.POSTCHARGE))
    assert gun.state is S.POSTCHARGE
    assert gun.report().driven_voltage == gun.report().driven_current == 0.0
    await eventually(lambda: gun.report().measured_voltage == 390.0, what="measured")
    assert gun.report().contactors is Contactors.CLOSED


async def test_open_then_reset_reaches_verified_standby(station: Station) -> None:
    gun = station.guns["1-1"]
    await bring_to(gun, S.CHARGE)
    recorder = record(station)
    await gun.set_contactors(False)
    await gun.reset()
    await eventually(gun.in_standby, what="standby")
    assert gun.target is None and gun.report().isolation is Isolation.INVALID
    assert [(old, new, event) for _, old, new, event, _ in recorder.transitions] == [
        (S.CHARGE, S.STOPPING, Event.OPEN), (S.STOPPING, S.STANDBY, Event.SAFE)
    ]
    assert all(reason for *_, reason in recorder.transitions)


async def test_secc_detached_goes_to_standby_and_does_not_resume(station: Station) -> None:
    gun = station.guns["1-1"]
    link = FakeLink()
    gun.secc_attached(link)
    await bring_to(gun, S.CHARGE)
    gun.secc_detached(link, "unresponsive")
    await eventually(gun.in_standby, what="standby")
    assert gun.target is None
    for _ in range(3):
        station.tick()
    assert gun.report().driven_voltage == 0.0 and gun.state is S.STANDBY


@pytest.mark.parametrize(
    ("inject", "heal", "text"),
    [
        (lambda st, gun: instant(st.power).fail(first_module(gun), Fault.COMMUNICATION),
         lambda st, gun: instant(st.power).fail(first_module(gun), None), "not answering"),
        (lambda st, gun: instant(st.power).fail(first_module(gun), Fault.OVER_TEMPERATURE),
         lambda st, gun: instant(st.power).fail(first_module(gun), None), "over_temperature"),
        (lambda st, gun: st.io.imd.inject(gun.id, Isolation.FAULT),
         lambda st, gun: st.io.imd.inject(gun.id, None), "isolation fault"),
        (lambda st, gun: st.io.contactors.stick(gun.id, False),
         lambda st, gun: st.io.contactors.stick(gun.id, None), "contactor feedback says open"),
    ],
    ids=["module-silent", "over-temperature", "imd-fault", "contactor-mismatch"],
)
async def test_fault_during_charge(station: Station, inject, heal, text) -> None:  # type: ignore[no-untyped-def]
    gun = station.guns["1-1"]
    link = FakeLink()
    gun.secc_attached(link)
    await bring_to(gun, S.CHARGE)
    recorder = record(station)
    inject(station, gun)
    await eventually(lambda: gun.state is S.INOPERATIVE, what="inoperative")
    assert gun.report().operational is Operational.INOPERATIVE
    assert gun.report().driven_voltage == gun.report().driven_current == 0.0
    assert any(text in e for e in link.events), link.events
    assert any(text in f and active for _, f, active in recorder.faults)
    with pytest.raises(InoperativeRefused):
        await gun.target_values(Target(400, 50, 50, Phase.CHARGE))
    with pytest.raises(InoperativeRefused):
        await gun.set_contactors(True)
    await eventually(lambda: not station.io.contactors.commanded(gun.id), what="contactors commanded open")
    heal(station, gun)
    await eventually(gun.in_standby, what="operative standby")
    assert gun.report().operational is Operational.OPERATIVE
    assert any(not active for _, _, active in recorder.faults)


@pytest.mark.parametrize(
    "close",
    [lambda gun: gun.set_contactors(True), lambda gun: gun.cable_check(400)],
    ids=["contactorsStatus", "cableCheck"],
)
async def test_a_close_the_feedback_denies_opens_at_once(
    station: Station, close: Callable[[Gun], Awaitable[None]], caplog: pytest.LogCaptureFixture
) -> None:
    """A contactor fault is an emergency however it is found: commanded open in the refusal's own step.

    Found by the request's own close (not the cycle's check), it opened only
    with the normal safe-down, a loop step or more later.
    """
    gun = station.guns["1-1"]
    station.io.contactors.stick(gun.id, False)  # a broken coil: the feedback stays open
    with pytest.raises(InternalRefused, match="feedback says open"):
        await close(gun)
    assert "contactors" in gun.faults and gun.state is S.INOPERATIVE
    assert not gun.contactors.commanded_closed  # the emergency opening: commanded now, its task runs next
    assert gun.report().driven_voltage == gun.report().driven_current == 0.0
    assert any("EMERGENCY SHUTDOWN" in r.getMessage() for r in caplog.records), caplog.text
    await one_cycle(station)
    assert not station.io.contactors.commanded(gun.id)


async def test_measured_over_voltage_is_a_fault(station: Station) -> None:
    gun = station.guns["1-1"]
    link = FakeLink()
    gun.secc_attached(link)
    gun.ev_session_changed({"ev_max_voltage_volts": 450.0})
    await bring_to(gun, S.CHARGE)
    for a in station.pool.modules_of("1-1"):
        station.power.modules[a].voltage = 520.0
    await eventually(lambda: gun.state is S.INOPERATIVE, what="inoperative")
    assert any("over-voltage: measured 520 V, limit 450 V" in e for e in link.events)
    assert "emergency_over_voltage" not in gun.faults  # below Table 103's 550 V: a normal shutdown
    await eventually(lambda: not gun.holds_modules, what="safe-down done")
    assert gun.state is S.INOPERATIVE  # latched (6.3.1.106) until the gun is reset
    await gun.reset()
    await eventually(gun.in_standby, what="standby once discharged and reset")


async def test_plausibility_is_judged_on_module_readings_not_the_clock(tmp_path: Path) -> None:
    """On a busy bus a module's voltage may be read seconds apart (within the stale bound, 3 s
    here): one reading taken while the output still rose must not become a disagreement that
    lasted. Two readings at least 1 s apart that both disagree with the connector sensor are."""
    station = instant_station(instant_profile(tmp_path, {"safety.reading_stale_ms": 3000}))
    await station.start()
    try:
        gun = station.guns["1-1"]
        await eventually(lambda: bool(station.pool.modules_of("1-1")), what="modules dealt")
        modules = [station.power.modules[a] for a in station.pool.modules_of("1-1")]
        instant(station.power).load = {m.id: 10.0 for m in modules}  # conducting: the check applies
        await bring_to(gun, S.CHARGE)
        loop = asyncio.get_running_loop()

        def read(volts: float) -> None:
            """Every module of the gun read now (its voltage frame; its current comes every cycle)."""
            for m in modules:
                m.voltage, m.voltage_seen = volts, loop.time()

        station.io.connector.follow(lambda g: 347.0 if g == "1-1" else None)  # the car's battery
        read(200.0)  # read while the output still rose, then no voltage poll for 2 s (a busy bus)
        for _ in range(20):
            await asyncio.sleep(0.1)
            for m in modules:
                m.voltage = 200.0  # the driver keeps the last reading (the rig's modules echo the setpoint)
        assert "plausibility" not in gun.faults and gun.state is S.CHARGE
        assert gun.readings.implausible_since is not None  # seen, not yet confirmed by a later reading
        read(200.0)  # more than 1 s after the first: the sensor and the modules do disagree
        await eventually(lambda: "plausibility" in gun.faults, what="plausibility fault")
    finally:
        instant(station.power).discharge()
        await station.stop()


async def test_a_fault_on_one_gun_does_not_disturb_another(station: Station) -> None:
    one, two = station.guns["1-1"], station.guns["2-1"]
    await bring_to(one, S.CHARGE)
    await bring_to(two, S.CHARGE)
    driven = (two.report().driven_voltage, two.report().driven_current)
    station.io.imd.inject("1-1", Isolation.FAULT)
    await eventually(lambda: one.state is S.INOPERATIVE, what="inoperative")
    for _ in range(3):
        station.tick()
    assert two.state is S.CHARGE
    assert (two.report().driven_voltage, two.report().driven_current) == driven


async def test_a_lost_power_stage_clears_when_the_gun_has_no_module_left(station: Station) -> None:
    """The policy may take a gun's modules once its safe-down is done: with none left, nothing is lost.

    Seen in a soak: the fault waited for a module of the gun to answer, the
    policy had moved them all to other guns, and the gun stayed inoperative
    for good. Here the gun's modules leave and fail (so no policy brings
    them back).
    """
    gun = station.guns["1-1"]
    for address in gun.modules():
        await station.pool.move(address, None)
        instant(station.power).fail(address, Fault.HARDWARE)
    gun.fault_monitor.condition("power_stage", True, "power stage lost: no power module of this gun answers")
    await eventually(lambda: "power_stage" not in gun.faults, what="the power-stage fault to clear")
    assert not gun.modules()


async def test_an_idle_gun_whose_modules_failed_offers_what_it_can_reach(station: Station) -> None:
    """Not 0 A: a car keeps its first configuration's offer for the whole session."""
    gun = station.guns["1-1"]
    assert gun.modules()
    for address in gun.modules():
        instant(station.power).fail(address, Fault.HARDWARE)
    assert station.pool.supply("1-1").current_max == 0.0
    offered = gun.offered_limits().current_max
    assert offered == min(gun.ratings.current_max, station.pool.potential("1-1").current_max) > 0.0


async def test_an_idle_gun_offers_no_more_power_than_the_site_cap(station: Station) -> None:
    gun = station.guns["1-1"]
    assert gun.offered_limits().power_max > 8000
    station.pool.set_site_power_max(8000)
    assert gun.offered_limits().power_max == 8000
    station.pool.set_site_share(5000)  # a coordinator's share below the station's own cap
    assert gun.offered_limits().power_max == 5000
