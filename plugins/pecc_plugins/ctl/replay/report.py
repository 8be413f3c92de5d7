"""A replay's verdict: the differences from the recording, as a rich table or JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table

from pecc_plugins.ctl.replay.compare import Difference, differences
from pecc_plugins.ctl.replay.engine import replay

if TYPE_CHECKING:
    from pecc_core.plugins import PluginManager
    from pecc_core.profile.model import Profile
    from pecc_plugins.ctl.replay.archive import Incident


@dataclass(frozen=True, slots=True)
class Report:
    """Which incident was replayed on which profile, where the behaviour differs, and what was noted."""

    incident: str
    profile: str
    guns: tuple[str, ...]
    differences: list[Difference]
    notes: list[str]

    @property
    def matches(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "incident": self.incident, "profile": self.profile, "guns": list(self.guns), "matches": self.matches,
            "differences": [d.as_dict() for d in self.differences], "notes": self.notes,
        }

    def table(self) -> Table:
        verdict = "the same behaviour" if self.matches else f"{len(self.differences)} differences"
        table = Table(title=f"Replay of {self.incident} on {self.profile}: {verdict}")
        for name in ("Gun", "What", "At", "Recorded", "Replayed"):
            table.add_column(name)
        for d in self.differences:
            table.add_row(d.gun, d.what, d.at, d.recorded, f"[red]{d.replayed}[/red]")
        return table


async def check(incident: Incident, profile: Profile, plugins: PluginManager) -> Report:
    """Replay ``incident`` on a station of ``profile`` (on the running loop) and compare: the report."""
    replayed = await replay(incident, profile, plugins)
    return Report(incident.id, profile.name, incident.guns, differences(incident.frames, replayed.frames),
                  replayed.notes)
