"""What a station's history records, as the history hooks hand it to plugins.

The core keeps no history itself: a service (the ``ctl`` plugin's
recorder) derives events and charging sessions from the observer hooks,
stores them, and tells every plugin what it recorded through
``pecc_event_recorded`` and ``pecc_session_recorded``
(:mod:`pecc_core.hookspecs`). The types are here, in the core, so that a
plugin that publishes the history (the ``site`` telemetry) depends on
this contract and not on the plugin that keeps it.

An event is a JSON object, as ``GET /api/events`` shows it without its
``id``: ``ts`` (Unix time), ``gun`` (None for the station), ``kind``
(``state``, ``fault``, ``session``, ...) and the kind's own keys
(docs/control-api.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter


@dataclass(slots=True)
class Session:
    """One charging session of one gun (``end`` None while it runs).

    The recorder updates its own while the session runs; a hook gets a copy.
    """

    id: str
    gun: str
    vehicle_id: str | None
    start: float
    end: float | None = None
    energy_wh: float = 0.0
    peak_power_w: float = 0.0
    end_reason: str | None = None
    outcome: str | None = None  # "completed" or "failed" once ended

    def copy(self) -> Session:
        """This session as it is now, apart from the recorder's own.

        What ``copy.copy`` gives, in a fifth of its time (0.4 against 2.3 us):
        the ops snapshot copies every running session five times a second.
        """
        return Session(*_VALUES(self))


#: Every field of a :class:`Session` in order: the arguments of its copy.
_VALUES = attrgetter(*(f.name for f in fields(Session)))
