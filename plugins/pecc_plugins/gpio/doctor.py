"""What ``pecc doctor`` checks for the GPIO drivers: every line they use exists and can be exported.

A line exists when a GPIO chip serves its number (``gpiochipN/base`` and
``ngpio`` under the sysfs root); the driver exports it on start unless it
is exported already, which needs write access to ``export``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pecc_core.doctor import Check, Finding, fail, ok
from pecc_core.io import IO_ROLES
from pecc_plugins.gpio.lines import chips

if TYPE_CHECKING:
    from pecc_core.profile.model import Profile
    from pecc_core.registry import Registry


@runtime_checkable
class UsesLines(Protocol):
    """A GPIO driver: the line numbers it uses."""

    def used_lines(self) -> tuple[int, ...]: ...


def checks(profile: Profile, registry: Callable[[str], Registry]) -> list[Check]:
    """One check per I/O role the profile gives to ``gpio``."""
    offered = []
    for role in IO_ROLES:
        choice = getattr(profile.io, role)
        if choice is None or choice.name != "gpio":
            continue
        factory = registry(f"io.{role}").get(choice.name).factory
        offered.append(Check(f"gpio io.{role}", _lines_check(f"io.{role}", factory, choice.params, profile)))
    return offered


def _lines_check(
    key: str, factory: Callable[..., object], params: dict[str, Any], profile: Profile
) -> Callable[[], list[Finding]]:
    def run() -> list[Finding]:
        driver = factory(params, profile)  # built only: nothing touches the lines before start()
        if not isinstance(driver, UsesLines):
            raise TypeError(f"{type(driver).__name__} does not name its lines")
        return [lines_finding(f"gpio {key}", key, Path(params["root"]), driver.used_lines())]

    return run


def lines_finding(check: str, key: str, root: Path, lines: tuple[int, ...]) -> Finding:
    """One row: every one of ``lines`` is on a chip under ``root``, and those not exported yet can be."""
    wiring = f"check {key}.params against the cabinet's wiring and `cat {root}/gpiochip*/base {root}/gpiochip*/ngpio`"
    if not root.is_dir():
        return fail(check, f"{root} does not exist: no sysfs GPIO on this machine",
                    f"run on the cabinet's controller (kernel with CONFIG_GPIO_SYSFS), or set {key}.params.root")
    served = chips(root)
    missing = sorted({line for line in lines if not any(line in span for span in served.values())})
    if missing:
        shown = ", ".join(f"{name} {span.start}-{span.stop - 1}" for name, span in served.items()) or "none"
        return fail(check, f"lines {_listed(missing)} on no GPIO chip (chips: {shown})", wiring)
    unexported = [line for line in lines if not (root / f"gpio{line}").exists()]
    if unexported and not os.access(root / "export", os.W_OK):
        return fail(check, f"{root}/export not writable: lines {_listed(unexported)} cannot be exported",
                    "run PECC as a user allowed to export GPIO lines (gpio group, udev rule), or export them at boot")
    return ok(check, f"{len(set(lines))} lines, each on a GPIO chip under {root}")


def _listed(lines: list[int]) -> str:
    return ", ".join(map(str, sorted(set(lines))))
