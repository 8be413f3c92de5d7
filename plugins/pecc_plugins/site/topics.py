"""The site's topic tree on the broker: every topic name in one place (see docs/site.md).

::

    pecc/<site>/coordinator/state                      retained; last will: offline
    pecc/<site>/coordinator/cap/set                    an operator's cap command
    pecc/<site>/cabinets/<cabinet>/presence            retained; last will: offline
    pecc/<site>/cabinets/<cabinet>/demand              retained, expiring
    pecc/<site>/cabinets/<cabinet>/share               coordinator -> cabinet, expiring
    pecc/<site>/cabinets/<cabinet>/guns/<gun>/state    retained
    pecc/<site>/cabinets/<cabinet>/events              every event, not retained
    pecc/<site>/cabinets/<cabinet>/sessions            every ended session, not retained
    pecc/<site>/cabinets/<cabinet>/incidents           every incident written, not retained
"""

from __future__ import annotations

ROOT = "pecc"


class Topics:
    """The topics of one site (``pecc/<site>/...``)."""

    def __init__(self, site: str) -> None:
        self.root = f"{ROOT}/{site}"
        self.coordinator = f"{self.root}/coordinator/state"
        self.cap_set = f"{self.root}/coordinator/cap/set"
        #: Every cabinet's presence / demand (subscriptions of the coordinator and of ``site status``).
        self.presences = f"{self.root}/cabinets/+/presence"
        self.demands = f"{self.root}/cabinets/+/demand"
        self.gun_states = f"{self.root}/cabinets/+/guns/+/state"

    def cabinet(self, cabinet: str) -> str:
        return f"{self.root}/cabinets/{cabinet}"

    def presence(self, cabinet: str) -> str:
        return f"{self.cabinet(cabinet)}/presence"

    def demand(self, cabinet: str) -> str:
        return f"{self.cabinet(cabinet)}/demand"

    def share(self, cabinet: str) -> str:
        return f"{self.cabinet(cabinet)}/share"

    def gun_state(self, cabinet: str, gun: str) -> str:
        return f"{self.cabinet(cabinet)}/guns/{gun}/state"

    def events(self, cabinet: str) -> str:
        return f"{self.cabinet(cabinet)}/events"

    def sessions(self, cabinet: str) -> str:
        return f"{self.cabinet(cabinet)}/sessions"

    def incidents(self, cabinet: str) -> str:
        return f"{self.cabinet(cabinet)}/incidents"

    def cabinet_of(self, topic: str) -> str | None:
        """The cabinet id in a ``pecc/<site>/cabinets/<cabinet>/...`` topic."""
        parts = topic.split("/")
        return parts[3] if len(parts) > 4 and parts[2] == "cabinets" else None
