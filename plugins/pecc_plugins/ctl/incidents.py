"""Incidents on disk: written from a flight recorder's capture, listed, zipped, bounded.

Each incident is a directory ``<state dir>/incidents/<id>/`` holding

- ``can.blf``: the CAN frames of the window, written by python-can's
  :class:`can.BLFWriter` (``is_rx`` False for the frames PECC sent), each
  bus on its own channel (``channel`` of the manifest's ``buses``); read
  it back with :class:`can.BLFReader`;
- ``pepws.jsonl``: the PEP-WS frames of the incident's guns, one JSON
  object a line (``ts``, ``gun``, ``dir`` ``rx``/``tx``, ``frame`` as the
  text on the wire, or ``binary`` in base64; ``cut_from``: the length of a
  frame the recorder kept cut);
- ``timeline.json``: states, faults, SECC connections, measured V/I,
  setpoints and modules of the incident's guns;
- ``manifest.json``: what, when, which guns and the modules they had in
  the window (``modules``, ``can1:5``) or could have (``reachable_modules``),
  the buses, the PECC version and the profile's digest.

It is written into ``.tmp-<id>`` and renamed into place once complete, so
a crash mid-write leaves no half-written incident in the list (the
leftover is removed at the next start); the files are fsynced before the
rename and the directory after it, so an incident announced once
:meth:`IncidentStore.write` returned (the history's ``incident`` event)
is on disk, whatever happens next. After each write the oldest
incidents go until at most ``max_count`` remain in at most ``max_bytes``
(the newest always stays). Everything here does file I/O: it runs in a
thread (``asyncio.to_thread``), never on the station's loop.

An id is the UTC time of the incident's first cause and its first gun
(``20261207T180501.123Z-1-1``): ids sort by time.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import can

from pecc_core.power import ModuleId

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"
MANIFEST = "manifest.json"
CAN_LOG = "can.blf"
PEPWS_LOG = "pepws.jsonl"
TIMELINE = "timeline.json"
#: An id as :func:`incident_id` makes them (and nothing that could leave the directory).
ID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{3}Z-[A-Za-z0-9_.-]+$")

#: loop time, received, id, extended, data, channel (the bus's place in the profile, from 0)
CanEntry = tuple[float, bool, int, bool, "bytes | bytearray", int]
FrameEntry = tuple[float, str, bool, int, str | bytes]  # loop time, gun, received, its length, frame (cut)
TimelineEntry = tuple[float, str, str, Any]  # loop time, gun, kind, what


@dataclass(frozen=True, slots=True)
class Capture:
    """What the flight recorder hands to the writer: copies of its rings and what the incident is.

    Times are the loop's; ``offset`` turns them into Unix time (``wall - loop``,
    whole microseconds: :func:`unix`).
    ``manifest`` is complete but for the times, the id and the counts.
    """

    start: float
    end: float
    offset: float
    guns: tuple[str, ...]
    causes: list[dict[str, Any]]
    manifest: dict[str, Any]
    can: Iterable[CanEntry]
    frames: list[FrameEntry]
    timeline: list[TimelineEntry]


def incident_id(ts: float, gun: str) -> str:
    """``YYYYmmddTHHMMSS.mmmZ-<gun>`` (characters other than letters, digits, ``_.-`` of the gun as ``_``)."""
    stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3]
    return f"{stamp}Z-{re.sub(r'[^A-Za-z0-9_.-]', '_', gun)}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IncidentStore:
    """The incidents of one station under ``directory`` (see the module doc); call from a thread."""

    def __init__(self, directory: Path, max_count: int, max_bytes: int) -> None:
        self.directory = directory
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._writing = threading.Lock()  # one write (and its retention) at a time

    def clean(self) -> None:
        """Remove what a crash mid-write left (``.tmp-*``)."""
        if not self.directory.is_dir():
            return
        for leftover in self.directory.glob(f"{TMP_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)

    # -- writing ----------------------------------------------------------------------

    def write(self, capture: Capture) -> dict[str, Any]:
        """Write ``capture`` as a new incident, then apply the retention; its list entry."""
        with self._writing:
            return self._write(capture)

    def _write(self, capture: Capture) -> dict[str, Any]:
        first = capture.causes[0]
        ts = unix(first["t"], capture.offset)
        self.directory.mkdir(parents=True, exist_ok=True)
        base = incident_id(ts, first["gun"])
        name, n = base, 1
        while (self.directory / name).exists():
            n += 1
            name = f"{base}-{n}"
        tmp = self.directory / f"{TMP_PREFIX}{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            counts = {
                CAN_LOG: _write_can(tmp / CAN_LOG, capture),
                PEPWS_LOG: _write_frames(tmp / PEPWS_LOG, capture),
                TIMELINE: _write_timeline(tmp / TIMELINE, capture),
            }
            manifest = {
                "id": name, "time": _iso(ts), "ts": ts, "reason": first["reason"], "guns": list(capture.guns),
                "modules": _modules(capture),
                **capture.manifest,
                "loop_offset": capture.offset,
                "causes": [_cause(c, capture.offset) for c in capture.causes],
                "window": {"from": _iso(capture.start + capture.offset), "to": _iso(capture.end + capture.offset)},
                "entries": counts,
            }
            _write_json(tmp / MANIFEST, manifest)
            os.rename(tmp, self.directory / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _synced_directory(self.directory)
        self._retain(name)
        return _entry(self.directory / name, manifest)

    def _retain(self, newest: str) -> None:
        """The oldest incidents go until at most ``max_count`` in ``max_bytes`` remain; ``newest`` stays."""
        names = sorted(self._names())
        sizes = {name: _size(self.directory / name) for name in names}
        total = sum(sizes.values())
        while len(names) > 1 and (len(names) > self.max_count or total > self.max_bytes):
            oldest = names.pop(0)
            if oldest == newest:
                names.append(oldest)
                continue
            shutil.rmtree(self.directory / oldest, ignore_errors=True)
            total -= sizes[oldest]
            log.info("incident %s removed (retention: %d incidents, %d bytes)", oldest, self.max_count, self.max_bytes)

    # -- reading ----------------------------------------------------------------------

    def _names(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return [p.name for p in self.directory.iterdir() if p.is_dir() and ID_PATTERN.match(p.name)]

    def list(self) -> list[dict[str, Any]]:
        """Every incident, newest first: ``id``, ``time``, ``ts``, ``guns``, ``reason``, ``size`` (bytes)."""
        found = []
        for name in sorted(self._names(), reverse=True):
            path = self.directory / name
            try:
                found.append(_entry(path, json.loads((path / MANIFEST).read_text())))
            except (OSError, ValueError):  # removed meanwhile by the retention, or unreadable
                continue
        return found

    def timeline(self, incident: str) -> dict[str, Any] | None:
        """The incident's list entry with its ``causes``, ``window`` and ``timeline``; None if there is none.

        What the dashboard draws its chart from, without unzipping the archive.
        """
        if not ID_PATTERN.match(incident):
            return None
        path = self.directory / incident
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            timeline = json.loads((path / TIMELINE).read_text())
        except FileNotFoundError:  # none such, or removed meanwhile by the retention
            return None
        return {**_entry(path, manifest), "causes": manifest["causes"], "window": manifest["window"],
                "timeline": timeline}

    def archive(self, incident: str) -> bytes | None:
        """The incident's files as one zip (under a folder named by its id); None if there is none."""
        if not ID_PATTERN.match(incident):
            return None
        path = self.directory / incident
        if not path.is_dir():
            return None
        buffer = io.BytesIO()
        try:
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for file in sorted(path.iterdir()):
                    archive.write(file, f"{incident}/{file.name}")
        except FileNotFoundError:  # removed meanwhile by the retention
            return None
        return buffer.getvalue()


def _entry(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": manifest["id"], "time": manifest["time"], "ts": manifest["ts"], "guns": manifest["guns"],
        "reason": manifest["reason"], "size": _size(path),
    }


def _size(path: Path) -> int:
    try:
        return sum(f.stat().st_size for f in path.iterdir())
    except OSError:
        return 0


def unix(t: float, offset: float) -> float:
    """Loop time ``t`` as the archive's Unix time: to the microsecond, as every ``ts`` of an incident.

    One rounding for the frames, the timeline, the causes and the manifest:
    the offsets between them are then the loop's own, to the microsecond
    (a replay places them by those offsets, some on the same loop tick).
    """
    return round(t + offset, 6)


def _cause(cause: dict[str, Any], offset: float) -> dict[str, Any]:
    ts = unix(cause["t"], offset)
    return {"ts": ts, "time": _iso(ts), **{k: v for k, v in cause.items() if k != "t"},
            "modules": [str(m) for m in cause["modules"]]}


def _synced(file: Any) -> None:
    file.flush()
    os.fsync(file.fileno())


def _synced_directory(path: Path) -> None:
    """The renames in ``path`` on disk (a rename is an update of its directory)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_json(path: Path, data: Any) -> None:
    with path.open("w") as file:
        json.dump(data, file, indent=1, default=str)
        _synced(file)


def _write_can(path: Path, capture: Capture) -> int:
    """The CAN frames of the window, as python-can's BLF writer writes them; how many."""
    count = 0
    offset, start = capture.offset, capture.start
    writer = can.BLFWriter(path)
    try:
        for t, received, arbitration_id, extended, data, channel in capture.can:
            if t < start:
                continue
            writer.on_message_received(can.Message(
                timestamp=t + offset, arbitration_id=arbitration_id, is_extended_id=extended, data=data,
                is_rx=received, channel=channel,
            ))
            count += 1
    finally:
        writer.stop()
    with path.open("rb+") as file:
        os.fsync(file.fileno())
    return count


def _write_frames(path: Path, capture: Capture) -> int:
    """The PEP-WS frames of the incident's guns in the window, a JSON object a line; how many."""
    count = 0
    guns, offset, start = set(capture.guns), capture.offset, capture.start
    with path.open("w") as file:
        for t, gun, received, size, frame in capture.frames:
            if t < start or gun not in guns:
                continue
            line: dict[str, Any] = {"ts": unix(t, offset), "gun": gun, "dir": "rx" if received else "tx"}
            if size > len(frame):
                line["cut_from"] = size
            if isinstance(frame, str):
                line["frame"] = frame
            elif received:  # a binary frame: as it came
                line["binary"] = base64.b64encode(frame).decode()
            else:  # PECC's own frames: UTF-8 JSON text sent as bytes
                line["frame"] = frame.decode("utf-8", "replace")
            file.write(json.dumps(line) + "\n")
            count += 1
        _synced(file)
    return count


def _write_timeline(path: Path, capture: Capture) -> int:
    """States, faults, SECC connections, V/I, setpoints and modules of the incident's guns in the window; how many."""
    guns, offset, start = set(capture.guns), capture.offset, capture.start
    timeline = [
        {"ts": unix(t, offset), "gun": gun, "kind": kind, **_what(kind, what)}
        for t, gun, kind, what in capture.timeline
        if t >= start and gun in guns
    ]
    _write_json(path, timeline)
    return len(timeline)


def _modules(capture: Capture) -> dict[str, list[str]]:
    """The modules each gun had in the window (``can1:5``): those of the timeline and those at its causes."""
    held: dict[str, set[ModuleId]] = {gun: set() for gun in capture.guns}
    for cause in capture.causes:
        held[cause["gun"]].update(cause["modules"])
    for t, gun, kind, what in capture.timeline:
        if kind == "modules" and t >= capture.start and gun in held:
            held[gun].update(what)
    return {gun: [str(m) for m in sorted(modules)] for gun, modules in held.items()}


def _what(kind: str, what: Any) -> dict[str, Any]:
    """A timeline entry's own keys (see :mod:`.flight` for what each kind holds)."""
    if kind in ("reading", "setpoint"):
        return {"voltage": what[0], "current": what[1]}
    if kind == "modules":
        return {"modules": [str(m) for m in what]}
    if kind == "state":
        old, new, event, reason = what
        return {"from": str(old), "to": str(new), "event": str(event), "reason": reason}
    if kind == "fault":
        return {"fault": what[0], "active": what[1]}
    return {"what": what[0], "details": what[1]}  # secc: connected / disconnected
