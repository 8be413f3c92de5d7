"""GPIO I/O drivers against a sysfs-shaped directory, the hardware replaced by tasks that act like it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pecc_core.errors import ConfigError
from pecc_core.io import ContactorError
from pecc_core.model import Isolation
from pecc_core.power import ModuleId
from pecc_core.profile import Profile, load
from pecc_plugins.gpio import ContactorParams, EmergencyStopParams, ImdParams, MatrixParams, SupervisionParams
from pecc_plugins.gpio.drivers import GpioContactors, GpioEmergencyStop, GpioImd, GpioMatrix, GpioSupervision


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    """Lines 0..199 as the kernel shows them once exported."""
    for line in range(200):
        directory = tmp_path / f"gpio{line}"
        directory.mkdir()
        (directory / "direction").write_text("in")
        (directory / "value").write_text("0")
    return tmp_path


@pytest.fixture
def profile() -> Profile:
    return load("cabinet-uu12")


def value(sysfs: Path, line: int) -> str:
    return (sysfs / f"gpio{line}" / "value").read_text()


def set_value(sysfs: Path, line: int, active: bool) -> None:
    (sysfs / f"gpio{line}" / "value").write_text("1" if active else "0")


def params(schema: type, profile: Profile, role: str, sysfs: Path) -> dict:
    raw = dict(getattr(profile.io, role).params)
    raw["root"] = str(sysfs)
    return schema().load(raw)


async def test_contactors_close_when_the_feedback_follows(sysfs: Path, profile: Profile) -> None:
    contactors = GpioContactors(params(ContactorParams, profile, "contactors", sysfs), profile)
    contactors.start()
    assert (sysfs / "gpio20" / "direction").read_text() == "low"

    async def auxiliary_contact() -> None:
        await asyncio.sleep(0.02)
        set_value(sysfs, 40, value(sysfs, 20) == "1")

    follower = asyncio.create_task(auxiliary_contact())
    await contactors.set("d1-a", True)
    await follower
    assert value(sysfs, 20) == "1" and contactors.closed("d1-a")
    assert not contactors.closed("d1-b")


async def test_contactor_feedback_mismatch_is_an_error(sysfs: Path, profile: Profile) -> None:
    raw = dict(profile.io.contactors.params, root=str(sysfs), timeout_ms=30)
    contactors = GpioContactors(ContactorParams().load(raw), profile)
    contactors.start()
    with pytest.raises(ContactorError, match="d2-b: contactor feedback still open"):
        await contactors.set("d2-b", True)


def test_supervision_reads_the_secc_output(sysfs: Path, profile: Profile) -> None:
    supervision = GpioSupervision(params(SupervisionParams, profile, "supervision", sysfs), profile)
    supervision.start()
    assert not supervision.allowed("d3-a")
    set_value(sysfs, 64, True)
    assert supervision.allowed("d3-a")


async def test_imd_samples_only_after_its_measurement_time(sysfs: Path, profile: Profile) -> None:
    raw = dict(profile.io.imd.params, root=str(sysfs), test_ms=50, settle_ms=40, sample_ms=20)
    imd = GpioImd(ImdParams().load(raw), profile)
    imd.start()
    assert imd.sample("d1-a") is None
    set_value(sysfs, 80, True)  # OK already true before the test: not a fresh sample
    imd.start_monitoring("d1-a")
    assert value(sysfs, 70) == "1"
    assert imd.sample("d1-a") is None  # still measuring
    await asyncio.sleep(0.03)
    assert imd.sample("d1-a") is None  # 30 ms in: still within settle_ms (40)
    await asyncio.sleep(0.02)
    first = imd.sample("d1-a")  # 50 ms in: the first sample (the one of 40 ms)
    assert first is not None and first.verdict is Isolation.VALID and first.resistance is None
    assert first.seq == 1
    await asyncio.sleep(0.04)
    assert imd.sample("d1-a").seq == 3  # 90 ms in: the samples of 40, 60 and 80 ms (every sample_ms)
    set_value(sysfs, 80, False)
    set_value(sysfs, 90, True)
    assert imd.sample("d1-a").verdict is Isolation.WARNING
    set_value(sysfs, 90, False)
    assert imd.sample("d1-a").verdict is Isolation.FAULT
    imd.stop_monitoring("d1-a")
    assert value(sysfs, 70) == "0" and imd.sample("d1-a") is None


async def test_imd_self_test_needs_the_ok_line_to_drop_and_return(sysfs: Path, profile: Profile) -> None:
    raw = dict(profile.io.imd.params, root=str(sysfs), test_ms=100)
    imd = GpioImd(ImdParams().load(raw), profile)
    imd.start()
    set_value(sysfs, 80, True)

    async def device() -> None:  # the IMD: its test resistor drops OK while the test line is up
        while value(sysfs, 180) != "1":
            await asyncio.sleep(0.005)
        set_value(sysfs, 80, False)
        while value(sysfs, 180) == "1":
            await asyncio.sleep(0.005)
        set_value(sysfs, 80, True)

    task = asyncio.create_task(device())
    assert await imd.self_test("d1-a", 500.0)
    await task
    assert not await imd.self_test("d1-b", 500.0)  # OK never dropped: the test did not run
    untested = ImdParams().load({k: v for k, v in raw.items() if k != "test"})
    assert not await GpioImd(untested, profile).self_test("d1-a", 500.0)  # no test line: fails


async def test_estop_reads_pressed_on_a_broken_chain(sysfs: Path, profile: Profile) -> None:
    raw = dict(profile.io.estop.params, root=str(sysfs))
    estop = GpioEmergencyStop(EmergencyStopParams().load(raw), profile)
    estop.start()
    assert estop.pressed("d1-a")  # active low: 0 on the line is pressed (or a broken wire)
    set_value(sysfs, 190, True)
    assert not estop.pressed("d1-a")


async def test_matrix_breaks_before_make(sysfs: Path, profile: Profile) -> None:
    raw = dict(profile.io.matrix.params, root=str(sysfs), switch_ms=0)
    matrix = GpioMatrix(MatrixParams().load(raw), profile)
    matrix.start()
    three = ModuleId("can", 3)
    await matrix.connect(three, "d2-a")  # line 100 + 2 * 6 + 2
    assert value(sysfs, 114) == "1" and matrix.gun_of(three) == "d2-a"
    await matrix.connect(three, "d3-b")
    assert value(sysfs, 114) == "0" and value(sysfs, 117) == "1"
    assert matrix.gun_of(three) == "d3-b"
    await matrix.connect(three, None)
    assert matrix.gun_of(three) is None



async def test_matrix_of_two_buses_counts_each_bus_from_its_own_base(sysfs: Path) -> None:
    for line in range(200, 250):  # can2's lines
        (sysfs / f"gpio{line}").mkdir()
        (sysfs / f"gpio{line}" / "value").write_text("0")
    two = load("cabinet-2bus")
    raw = dict(two.io.matrix.params, root=str(sysfs), switch_ms=0)
    matrix = GpioMatrix(MatrixParams().load(raw), two)
    matrix.start()
    await matrix.connect(ModuleId("can1", 3), "d2-a")  # line 100 + 2 * 6 + 2
    await matrix.connect(ModuleId("can2", 3), "d2-b")  # line 200 + 2 * 6 + 3
    assert value(sysfs, 114) == "1" and value(sysfs, 215) == "1" and value(sysfs, 214) == "0"
    assert matrix.gun_of(ModuleId("can2", 3)) == "d2-b" and matrix.gun_of(ModuleId("can1", 3)) == "d2-a"
    with pytest.raises(ConfigError, match="two modules would share relay lines"):
        GpioMatrix(MatrixParams().load({**raw, "bases": {}}), two)  # both buses from 100
    with pytest.raises(ConfigError, match=r"not buses of the profile: \['can9'\]"):
        GpioMatrix(MatrixParams().load({**raw, "bases": {**raw["bases"], "can9": 300}}), two)

def test_lines_for_unknown_or_missing_guns_are_refused(sysfs: Path, profile: Profile) -> None:
    raw = dict(profile.io.supervision.params, root=str(sysfs))
    raw["lines"] = {**raw["lines"], "d9-z": 1}
    del raw["lines"]["d1-a"]
    with pytest.raises(ConfigError, match=r"unknown guns \['d9-z'\], guns without a line \['d1-a'\]"):
        GpioSupervision(SupervisionParams().load(raw), profile)
