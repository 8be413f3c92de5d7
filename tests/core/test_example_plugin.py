"""The example vendor package, pip-installed as a vendor would, charges a car.

It is installed into a target directory (PYTHONPATH), found through its
entry point by a real ``pecc`` process, validated, and then a complete
``secc-sim`` session runs against ``pecc run`` on a profile that selects it
(no module simulator: the example driver is the whole power stage).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pecc_core.testing import wait_serving, write_profile

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "plugins" / "examples" / "pecc-example-driver"
PECC = [sys.executable, "-m", "pecc_core.cli"]
#: The sim profile with the example driver and no services (no CAN at all).
STAGE = {
    "power.driver": {"name": "example-stage", "params": {"voltage_max": 920}},
    "services": [],
    "server.port": 0,
    "timings.cable_check_ms": 200,
}

@pytest.fixture(scope="module")
def vendor_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a PECC with the example package pip-installed beside it."""
    site = tmp_path_factory.mktemp("site")
    # built from a copy: a build writes into its source tree, and parallel runs share the checkout
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("source") / EXAMPLE.name)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True, capture_output=True,
    )
    return {**os.environ, "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1"}


def test_example_vendor_package_installs_and_is_selectable_from_a_profile(
    tmp_path: Path, vendor_env: dict[str, str]
) -> None:
    listed = subprocess.run([*PECC, "plugins", "list"], env=vendor_env, capture_output=True, text=True, check=True)
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in listed.stdout.splitlines() if "│" in line]
    assert ["example_driver", "0.1.0"] in [r[:2] for r in rows]
    assert ["power_driver", "example-stage", "example_driver"] in [r[:3] for r in rows]

    path = write_profile("sim", tmp_path, STAGE)
    valid = subprocess.run([*PECC, "profiles", "validate", str(path)], env=vendor_env, capture_output=True, text=True)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    (tmp_path / "bad").mkdir()
    bad = write_profile("sim", tmp_path / "bad", {**STAGE, "power.driver.params.voltage_max": -1})
    invalid = subprocess.run([*PECC, "profiles", "validate", str(bad)], env=vendor_env, capture_output=True, text=True)
    assert invalid.returncode == 2
    assert "power.driver.params.voltage_max: got -1;" in invalid.stderr


@pytest.mark.system("a real `pecc run` process on the example driver, and a `pecc secc-sim` process charging on it")
def test_a_complete_secc_sim_session_charges_on_the_example_driver(
    tmp_path: Path, vendor_env: dict[str, str]
) -> None:
    path = write_profile("sim", tmp_path, STAGE)
    car = tmp_path / "car.toml"
    car.write_text("[battery]\ncapacity_kwh = 10\nstart_soc = 20\ntarget_soc = 24\n")
    log = tmp_path / "pecc.log"
    with log.open("w") as out:
        pecc = subprocess.Popen(
            [*PECC, "run", "--profile", str(path), "--log-level", "INFO"], stdout=out, stderr=subprocess.STDOUT,
            env=vendor_env,
        )
        try:
            port = wait_serving(log, pecc)
            result = subprocess.run(
                [*PECC, "secc-sim", "--profile", str(path), "--port", str(port), "--guns", "1",
                 "--time-scale", "50", "--scenario", str(car), "--no-live"],
                capture_output=True, text=True, timeout=120, env=vendor_env,
            )
        finally:
            pecc.terminate()
            pecc.wait(timeout=15)
    assert result.returncode == 0, result.stdout + result.stderr + log.read_text()
    assert "PASS  1 sessions completed, 0 failed, 0 protocol errors, 1 guns" in result.stdout, result.stdout
    assert pecc.returncode == 0, log.read_text()
