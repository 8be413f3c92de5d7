"""Plugin discovery through entry points, including broken and third-party packages."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pluggy
import pytest

from pecc_core import hookimpl
from pecc_core.gun import FaultChange
from pecc_core.hookspecs import hookspec
from pecc_core.plugins import PluginError, PluginManager


def test_builtin_plugins_are_found_through_entry_points(pecc_plugins: PluginManager) -> None:
    names = {info.name for info in pecc_plugins.plugins()}
    assert {"pepws", "uugreen", "infy", "modsim", "simio", "gpio", "policies", "seccsim"} <= names
    assert not pecc_plugins.load_errors


def _dist(site: Path, name: str, module: str, source: str, requires: tuple[str, ...] = ()) -> None:
    """A minimal installed distribution: a module and its entry point."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    required = "".join(f"Requires-Dist: {r}\n" for r in requires)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{required}")
    (info / "entry_points.txt").write_text(f"[pecc]\n{name} = {module}\n")


def _on_path(site: Path) -> dict[str, str]:
    """The environment with ``site`` first on the import path (and PECC where it was)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_a_broken_plugin_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    _dist(tmp_path, "broken", "pecc_broken_plugin", "raise RuntimeError('vendor bug')\n")
    code = (
        "from pecc_core.plugins import default_manager\n"
        "pm = default_manager()\n"
        "print(sorted(pm.load_errors.items()))\n"
        "print('uugreen' in {i.name for i in pm.plugins()})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_on_path(tmp_path),
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert out == ["[('broken', 'RuntimeError: vendor bug')]", "True"]


def test_a_vendor_plugin_without_its_extra_says_which_to_install(tmp_path: Path) -> None:
    _dist(tmp_path, "acme", "pecc_acme_plugin", "import acme_modbus\n", requires=('acme-modbus>=1; extra == "modbus"',))
    _dist(tmp_path, "other", "pecc_other_plugin", "import other_sdk\n", requires=("other-sdk>=1",))
    code = (
        "from pecc_core.plugins import default_manager\n"
        "pm = default_manager()\n"
        "print(pm.load_errors['acme'])\n"
        "print(pm.load_errors['other'])\n"
        "print(pm.registry('power_driver').unknown('acme'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_on_path(tmp_path),
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    acme = "needs `pip install acme[modbus]` (No module named 'acme_modbus')"
    # a dependency that no extra brings is a broken install: the error as it is
    other = "ModuleNotFoundError: No module named 'other_sdk'"
    assert out[:2] == [acme, other]
    assert out[2].startswith("unknown power driver 'acme' (installed: ")
    assert out[2].endswith(f"; plugin 'acme' not loaded: {acme}; plugin 'other' not loaded: {other}")


def test_a_name_offered_twice_is_an_error_naming_both_plugins() -> None:
    def offer(name: str) -> types.SimpleNamespace:
        @hookimpl
        def pecc_register_limit_policies(register):  # type: ignore[no-untyped-def]
            register("same", object)

        return types.SimpleNamespace(pecc_register_limit_policies=pecc_register_limit_policies)

    pm = PluginManager()
    pm.register(offer("a"), "first")
    pm.register(offer("b"), "second")
    with pytest.raises(PluginError, match="limit_policy 'same' is offered by both"):
        pm.registry("limit_policy")


def test_an_io_driver_for_an_unknown_role_is_an_error() -> None:
    @hookimpl
    def pecc_register_io_drivers(register):  # type: ignore[no-untyped-def]
        register("toaster", "x", object)

    pm = PluginManager()
    pm.register(types.SimpleNamespace(pecc_register_io_drivers=pecc_register_io_drivers), "odd")
    with pytest.raises(PluginError, match="unknown role 'toaster'"):
        pm.registry("io.contactors")


class AcmeHooks:
    """The hook a plugin called ``acme`` defines for others."""

    @hookspec
    def pecc_acme_colours(self, add: Any) -> None:
        """Add colours."""


class Acme:
    @hookimpl
    def pecc_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(AcmeHooks)


def painter(colour: str, **opts: bool) -> types.SimpleNamespace:
    @hookimpl(**opts)
    def pecc_acme_colours(add):  # type: ignore[no-untyped-def]
        add(colour)

    return types.SimpleNamespace(pecc_acme_colours=pecc_acme_colours)


def test_a_plugin_adds_its_own_hooks_for_the_plugins_registered_before_and_after_it() -> None:
    pm = PluginManager()
    pm.register(painter("red"), "before")
    pm.register(Acme(), "acme")
    pm.register(painter("blue"), "after")
    pm.pluggy_manager.check_pending()  # every implementation has its specification
    colours: list[str] = []
    pm.pluggy_manager.hook.pecc_acme_colours(add=colours.append)
    assert colours == ["blue", "red"]  # pluggy's order: the newest first


def test_without_the_plugin_that_defines_it_only_an_optional_implementation_loads() -> None:
    pm = PluginManager()
    pm.register(painter("red", optionalhook=True), "optional")
    pm.pluggy_manager.check_pending()
    pm.register(painter("blue"), "required")
    with pytest.raises(pluggy.PluginValidationError, match="pecc_acme_colours"):
        pm.pluggy_manager.check_pending()


def test_a_raising_observer_is_logged_once_per_episode_and_the_others_still_hear(
    caplog: pytest.LogCaptureFixture,
) -> None:
    heard: list[str] = []
    broken = types.SimpleNamespace(works=False)

    @hookimpl
    def pecc_gun_fault(gun, fault, active):  # type: ignore[no-untyped-def]
        if not broken.works:
            raise RuntimeError(f"observer bug on {fault}")

    broken.pecc_gun_fault = pecc_gun_fault
    pm = PluginManager()
    pm.register(types.SimpleNamespace(pecc_gun_fault=hookimpl(lambda gun, fault, active: heard.append(fault))), "fine")
    pm.register(broken, "broken")
    caplog.set_level(logging.INFO, logger="pecc_core.standin")
    for fault in ("a", "b", "c"):
        pm.gun_fault(None, FaultChange("test", True, fault, fault, emergency=False))  # type: ignore[arg-type]
    broken.works = True
    pm.gun_fault(None, FaultChange("test", True, "d", "d", emergency=False))  # type: ignore[arg-type]
    broken.works = False
    pm.gun_fault(None, FaultChange("test", True, "e", "e", emergency=False))  # type: ignore[arg-type]
    assert heard == ["a", "b", "c", "d", "e"]
    lines = [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    assert [(level, text.split(":")[0], tb) for level, text, tb in lines] == [
        (logging.ERROR, "plugin 'broken' in pecc_gun_fault", True),
        (logging.INFO, "plugin 'broken' in pecc_gun_fault", False),
        (logging.ERROR, "plugin 'broken' in pecc_gun_fault", True),
    ]
    exc_info = caplog.records[0].exc_info
    assert "ignored" in lines[0][1] and exc_info is not None and str(exc_info[1]) == "observer bug on a"
    assert lines[1][1].endswith("works again after 3 failures")


# -- PECC_PLUGINS / PECC_DISABLE_PLUGINS ------------------------------------------


def loaded_names(environ: dict[str, str]) -> set[str]:
    pm = PluginManager()
    pm.load_entry_points(environ=environ)
    return {info.name for info in pm.plugins()}


def test_the_plugin_environment_variables_narrow_what_is_loaded() -> None:
    everything = loaded_names({})
    assert {"pepws", "uugreen", "modsim", "simio", "policies"} <= everything
    assert loaded_names({"PECC_PLUGINS": "pepws, policies"}) == {"pepws", "policies"}
    assert loaded_names({"PECC_PLUGINS": ""}) == set()
    assert loaded_names({"PECC_DISABLE_PLUGINS": "gpio,infy"}) == everything - {"gpio", "infy"}
    assert loaded_names({"PECC_PLUGINS": "pepws,gpio", "PECC_DISABLE_PLUGINS": "gpio"}) == {"pepws"}


def test_a_disabled_plugin_is_gone_for_the_command_line_too() -> None:
    from typer.testing import CliRunner

    from pecc_core.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, ["plugins", "list"], env={"PECC_DISABLE_PLUGINS": "gpio"})
    assert listed.exit_code == 0, listed.output
    assert "gpio" not in listed.output and "uugreen" in listed.output
    # the sim profile needs modsim: without it the profile is invalid, and says why
    refused = runner.invoke(app, ["profiles", "validate", "sim"], env={"PECC_DISABLE_PLUGINS": "modsim"})
    assert refused.exit_code == 2
    assert "services[0].name: got 'modsim'; unknown service 'modsim'" in refused.output
    # the variables are PECC's own, not profile keys
    valid = runner.invoke(app, ["profiles", "validate", "sim"], env={"PECC_PLUGINS": "pepws,uugreen,modsim,simio,policies,ctl"})
    assert valid.exit_code == 0, valid.output
