"""The I/O link of a split station: every I/O role crosses it, and a lost link reads as unsafe.

The bench (what ``pecc sim-hw`` runs) and the PECC share one event loop
here, but talk only through their Unix sockets, as the two processes do.
"""

from __future__ import annotations

from pathlib import Path

from pecc_core.gun import GunState
from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.station import Station
from pecc_core.testing import eventually, running, write_profile
from pecc_plugins.modsim import SimParams
from pecc_plugins.simhw.bench import Bench

ROLES = ("contactors", "imd", "supervision", "matrix", "estop", "connector")


async def test_the_e_stop_and_the_connector_sensor_cross_the_link_and_a_lost_link_is_unsafe(
    tmp_path: Path,
) -> None:
    can, io = str(tmp_path / "can.sock"), str(tmp_path / "io.sock")
    overrides = {
        "server.port": 0,
        "power.driver.params.channel": can,
        "services.0.params.channel": io,
        "services.0.params.modsim.channel": can,
        "services.1.params.port": 0,
        "services.1.params.state_dir": str(tmp_path / "state"),
        **{f"io.{role}.params.channel": io for role in ROLES},
    }
    plugins = default_manager()
    profile = load(str(write_profile("sim-split", tmp_path, overrides)), plugins)
    bench = Bench(profile, SimParams().load(profile.services[0].params["modsim"]), io, plugins)
    await bench.start()
    stopped = False
    try:
        async with running(profile) as runtime:
            station = runtime.station
            gun = station.guns["1-1"]
            await eventually(gun.in_standby, 10.0, "standby")
            estop, connector = station.io.estop, station.io.connector
            assert estop is not None and connector is not None
            assert not estop.pressed("1-1")

            connector.drift("1-1", 80.0)  # the bench's sensor reads 80 V on an idle (0 V) output
            await eventually(lambda: gun.report().measured_voltage == 80.0, 5.0, "the connector's 80 V")
            station.io.imd.start_monitoring("1-1")  # the bench's IMD reads the output voltage, as wired
            await eventually(lambda: _imd_voltage(station, "1-1") == 80.0, 5.0, "the IMD's 80 V")
            station.io.imd.stop_monitoring("1-1")
            connector.drift("1-1", None)
            await eventually(lambda: gun.report().measured_voltage == 0.0, 5.0, "the connector's 0 V")

            estop.press("1-1")
            await eventually(lambda: "estop" in gun.faults and gun.state is GunState.INOPERATIVE, 5.0, "E-stop")
            assert station.guns["1-2"].state is GunState.STANDBY  # that gun's E-stop only
            estop.press("1-1", False)
            await eventually(gun.in_standby, 10.0, "standby once released")

            await bench.stop()  # the link is lost: what the PECC cannot know is the unsafe case
            stopped = True
            await eventually(lambda: estop.pressed("1-1") and connector.voltage("1-1") is None, 5.0, "unsafe")
            await eventually(lambda: gun.state is GunState.INOPERATIVE, 5.0, "inoperative")
    finally:
        if not stopped:
            await bench.stop()


def _imd_voltage(station: Station, gun: str) -> float | None:
    sample = station.io.imd.sample(gun)
    return None if sample is None else sample.voltage
