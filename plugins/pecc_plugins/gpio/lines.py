"""Digital lines through the Linux sysfs GPIO interface.

``/sys/class/gpio`` is what the field cabinet's controller board exposes
and needs no library. Each access is one small read or write on sysfs,
which the kernel completes at once, so it is done on the event loop. The
root is a parameter so the same code runs against a directory in tests.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_ROOT = Path("/sys/class/gpio")


class GpioLines:
    """Exported GPIO lines under one sysfs root."""

    def __init__(self, root: Path = DEFAULT_ROOT, active_low: bool = False) -> None:
        self.root = root
        self.active_low = active_low
        self._values: dict[int, Path] = {}

    def setup(self, line: int, output: bool) -> None:
        """Export ``line`` if needed and set its direction (outputs start inactive)."""
        directory = self.root / f"gpio{line}"
        if not directory.exists():
            (self.root / "export").write_text(str(line))
        # "low"/"high" set the direction and the first value at once
        direction = ("high" if self.active_low else "low") if output else "in"
        (directory / "direction").write_text(direction)
        self._values[line] = directory / "value"

    def read(self, line: int) -> bool:
        """True when the line is active."""
        raw = self._values[line].read_text().strip() == "1"
        return raw != self.active_low

    def write(self, line: int, active: bool) -> None:
        self._values[line].write_text("1" if active != self.active_low else "0")


def chips(root: Path = DEFAULT_ROOT) -> dict[str, range]:
    """The GPIO chips under ``root`` and the line numbers each one serves (``base`` to ``base + ngpio``)."""
    found = {}
    for chip in sorted(root.glob("gpiochip*")):
        base = int((chip / "base").read_text())
        found[chip.name] = range(base, base + int((chip / "ngpio").read_text()))
    return found
