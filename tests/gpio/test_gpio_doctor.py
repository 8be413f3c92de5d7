"""``pecc doctor``'s GPIO rows: the cabinet's lines looked for on the chips of a sysfs-shaped directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pecc_core.doctor import Status
from pecc_core.io import IO_ROLES
from pecc_core.plugins import default_manager
from pecc_core.profile import load
from pecc_core.testing import write_profile
from pecc_plugins.gpio.doctor import checks, lines_finding


def chip(root: Path, name: str, base: int, count: int) -> None:
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "base").write_text(f"{base}\n")
    (directory / "ngpio").write_text(f"{count}\n")


def cabinet_rows(tmp_path: Path, root: Path) -> dict[str, tuple[Status, str]]:
    """The rows of every GPIO role of cabinet-uu12 with its lines under ``root``."""
    overrides = {f"io.{role}.params.root": str(root) for role in IO_ROLES if role != "connector"}
    plugins = default_manager()
    profile = load(str(write_profile("cabinet-uu12", tmp_path, overrides)), plugins)
    found = [row for check in checks(profile, plugins.registry) for row in check.run()]  # type: ignore[union-attr]
    return {row.check: (row.status, row.detail) for row in found}


def test_every_line_of_the_cabinet_on_a_chip(tmp_path: Path) -> None:
    root = tmp_path / "gpio"
    chip(root, "gpiochip0", 0, 256)
    (root / "export").write_text("")
    found = cabinet_rows(tmp_path, root)
    assert set(found) == {f"gpio io.{role}" for role in ("contactors", "imd", "supervision", "matrix", "estop")}
    assert all(status is Status.OK for status, _ in found.values())
    # 12 modules x 6 guns, one relay each; 6 contactor commands and 6 feedbacks
    assert found["gpio io.matrix"][1].startswith("72 lines")
    assert found["gpio io.contactors"][1].startswith("12 lines")


def test_lines_beyond_the_chips_fail_and_name_them(tmp_path: Path) -> None:
    root = tmp_path / "gpio"
    chip(root, "gpiochip0", 0, 64)
    chip(root, "gpiochip64", 64, 32)
    (root / "export").write_text("")
    found = cabinet_rows(tmp_path, root)
    assert found["gpio io.contactors"][0] is Status.OK  # lines 20-45
    status, detail = found["gpio io.estop"]
    assert status is Status.FAIL
    assert detail == "lines 190 on no GPIO chip (chips: gpiochip0 0-63, gpiochip64 64-95)"


def test_no_sysfs_gpio_fails() -> None:
    missing = lines_finding("gpio io.estop", "io.estop", Path("/nonexistent/gpio"), (190,))
    assert missing.status is Status.FAIL and "io.estop.params.root" in missing.fix


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to any file")
def test_lines_that_cannot_be_exported_fail(tmp_path: Path) -> None:
    root = tmp_path / "gpio"
    chip(root, "gpiochip0", 0, 256)
    (root / "export").write_text("")
    (root / "export").chmod(0o444)
    (root / "gpio5").mkdir()  # exported already: needs no export
    assert lines_finding("c", "io.estop", root, (5,)).status is Status.OK
    refused = lines_finding("c", "io.estop", root, (5, 190))
    assert refused.status is Status.FAIL and refused.detail.endswith("lines 190 cannot be exported")
