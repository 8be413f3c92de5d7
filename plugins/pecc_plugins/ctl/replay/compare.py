"""What the PECC told each SECC in the recording against what it tells it in the replay.

Four things are compared per gun, each from the PEP-WS frames alone:

- ``reply``: the PECC's answer to each SECC request, matched by the
  protocol's rule (a reply carries its request's ``sequenceNumber``; each
  direction has its own counter, so a reply is the first PECC
  ``response``/``error`` with that number after the SECC's request), never
  by position. A request is named by its kind and number (and, if its
  number comes again in the window, its occurrence). Compared: the reply's
  ``type`` and an error's ``errorCategory``; "none" when no reply came
  within the window;
- ``states``: the sequence of reported states, each status's
  ``operationalStatus``/``contactorsStatus``/``isolationStatus`` with
  repeats folded (the 200 ms statuses are many; their count varies);
- ``events``: the ``event`` infos (faults and notices), in order;
- ``requests``: the kinds of the PECC's own requests (``stopCharging``...), in order.

Ignored, as they legitimately vary from one run to the next: every time
stamp; the sequence numbers of the PECC's own requests; a status's
measured and driven voltage and current and its temperature; a response's
payload (``configuration``'s limits and firmware version) and an error's
``errorDetails`` text; in an event's text, a number with a unit (``812 V``,
``305 ms``, kept as ``# V``: a measurement, not which module or gun).
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pecc_plugins.ctl.replay.archive import Frame, decoded

#: A measured quantity in an event's text: a number followed by its unit.
MEASURED = re.compile(r"-?\d+(?:\.\d+)?(\s*(?:V|A|W|kW|ms|s|%|°C))(?![A-Za-z])")
NO_REPLY = "none"
NOT_SENT = "not sent"


@dataclass(frozen=True, slots=True)
class Difference:
    """One place where the replay differs: ``what`` (reply, states, events, requests) of ``gun`` at ``at``."""

    gun: str
    what: str
    at: str
    recorded: str
    replayed: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One gun's behaviour as the SECC saw it: replies by request, then the three sequences."""

    replies: dict[str, str]
    states: list[str]
    events: list[str]
    requests: list[str]


def behaviour(frames: Iterable[Frame]) -> Behaviour:
    """The comparable behaviour in one gun's frames (both directions, in the order they went)."""
    replies: dict[str, str] = {}
    pending: dict[int, deque[str]] = {}
    seen: dict[str, int] = {}
    states: list[str] = []
    events: list[str] = []
    requests: list[str] = []
    for frame in frames:
        message = decoded(frame.data)  # {} for a frame that is no JSON object: a request of number 0
        kind, type_ = str(message.get("kind", "?")), message.get("type")
        if frame.rx:
            if type_ in ("info", "response", "error"):
                continue  # the SECC's own infos, and its answers to the PECC's requests
            seq = message.get("sequenceNumber")
            number = seq if isinstance(seq, int) and type_ == "request" else 0  # 0: the protocol's "unknown"
            label = f"{kind} #{number}"
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label} ({seen[label]})"
            replies[label] = NO_REPLY
            pending.setdefault(number, deque()).append(label)
        elif type_ in ("response", "error"):
            seq = message.get("sequenceNumber")
            waiting = pending.get(seq) if isinstance(seq, int) else None
            if waiting:
                replies[waiting.popleft()] = _outcome(message)
        elif type_ == "request":
            requests.append(kind)
        elif (type_, kind) == ("info", "status"):
            state = _state(message.get("payload"))
            if not states or states[-1] != state:
                states.append(state)
        elif (type_, kind) == ("info", "event"):
            events.append(_event(message.get("payload")))
    return Behaviour(replies, states, events, requests)


def differences(recorded: Sequence[Frame], replayed: Mapping[str, Sequence[Frame]]) -> list[Difference]:
    """Every difference, gun by gun (the guns of ``replayed``, in its order)."""
    found: list[Difference] = []
    for gun, frames in replayed.items():
        found += compare(gun, behaviour(f for f in recorded if f.gun == gun), behaviour(frames))
    return found


def compare(gun: str, recorded: Behaviour, replayed: Behaviour) -> list[Difference]:
    """Every difference of ``replayed`` from ``recorded`` (empty: the same behaviour)."""
    found = [
        Difference(gun, "reply", label, outcome, replayed.replies.get(label, NOT_SENT))
        for label, outcome in recorded.replies.items()
        if replayed.replies.get(label, NOT_SENT) != outcome
    ]
    found += [
        Difference(gun, "reply", label, NOT_SENT, outcome)
        for label, outcome in replayed.replies.items()
        if label not in recorded.replies
    ]
    for what in ("states", "events", "requests"):
        found += _sequence(gun, what, getattr(recorded, what), getattr(replayed, what))
    return found


def _sequence(gun: str, what: str, recorded: Sequence[str], replayed: Sequence[str]) -> list[Difference]:
    """The edits that turn ``recorded`` into ``replayed``, each at its position in ``recorded`` (from 1)."""
    matcher = difflib.SequenceMatcher(a=recorded, b=replayed, autojunk=False)
    return [
        Difference(gun, what, f"#{i1 + 1}", ", ".join(recorded[i1:i2]) or "-", ", ".join(replayed[j1:j2]) or "-")
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    ]


def _outcome(reply: dict[str, Any]) -> str:
    if reply.get("type") == "response":
        return "response"
    payload = reply.get("payload")
    category = payload.get("errorCategory", "?") if isinstance(payload, dict) else "?"
    return f"error {category}"


def _state(payload: Any) -> str:
    """``operational/contactors/isolation`` of a status, e.g. ``operative/closed/valid``."""
    fields = payload if isinstance(payload, dict) else {}
    return "/".join(str(fields.get(k, "?")) for k in ("operationalStatus", "contactorsStatus", "isolationStatus"))


def _event(payload: Any) -> str:
    details = payload.get("eventDetails", "") if isinstance(payload, dict) else ""
    return MEASURED.sub(r"#\1", str(details))
