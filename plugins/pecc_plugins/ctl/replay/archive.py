"""An incident archive read back for a replay: its PEP-WS frames, timeline and manifest.

The archive is the zip that ``GET /api/incidents/{id}`` and ``pecc ctl
incidents ID --out FILE`` give (its files under a folder named by the id),
or that folder itself. ``can.blf`` is not read: the replay drives the
station through its SECCs and re-injects the cause into the module
simulator; it does not play CAN frames. Anything missing or malformed is
an :class:`ArchiveError` with a sentence saying what, never another
exception: the command turns it into exit code 2.
"""

from __future__ import annotations

import base64
import binascii
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pecc_plugins.ctl.incidents import MANIFEST, PEPWS_LOG, TIMELINE


class ArchiveError(Exception):
    """The archive cannot be replayed: not an incident archive, or a file of it unreadable."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One PEP-WS frame: Unix time, gun, ``rx`` (from the SECC) or not, its text or binary data."""

    ts: float
    gun: str
    rx: bool
    data: str | bytes
    cut: bool = False


@dataclass(frozen=True, slots=True)
class Incident:
    """What a replay needs of an incident: its manifest, PEP-WS frames (in order), timeline and causes.

    ``end``: when the recorder wrote it, its first cause plus the seconds it
    waited (Unix time, as every ``ts``). ``loop_offset``: a ``ts`` less it is
    the recording loop's time (None in an archive from before it was written).
    """

    manifest: dict[str, Any]
    frames: tuple[Frame, ...]
    timeline: tuple[dict[str, Any], ...]
    causes: tuple[dict[str, Any], ...]
    end: float
    loop_offset: float | None = None

    @property
    def id(self) -> str:
        return str(self.manifest.get("id", "?"))

    @property
    def guns(self) -> tuple[str, ...]:
        """The guns with PEP-WS frames, in the order of their first frame."""
        return tuple(dict.fromkeys(frame.gun for frame in self.frames))


def read(path: Path) -> Incident:
    """The incident in ``path`` (a zip archive or an incident's folder); :class:`ArchiveError` if unreadable."""
    try:
        files = _folder(path) if path.is_dir() else _zip(path)
    except OSError as exc:
        raise ArchiveError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    manifest = _json(files, MANIFEST)
    timeline = _json(files, TIMELINE)
    if not isinstance(manifest, dict) or not isinstance(timeline, list):
        raise ArchiveError(f"{path}: {MANIFEST} or {TIMELINE} is not what an incident writes")
    if PEPWS_LOG not in files:
        raise ArchiveError(f"{path}: the archive holds no {PEPWS_LOG}: not an incident archive")
    try:
        frames = tuple(_frame(json.loads(line)) for line in files[PEPWS_LOG].decode().splitlines() if line)
        events = tuple({**entry, "ts": float(entry["ts"]), "gun": str(entry["gun"])} for entry in timeline)
        causes = tuple({**cause, "ts": float(cause["ts"])} for cause in manifest["causes"])
        end = float(manifest["ts"]) + float(manifest["after_s"])
        loop_offset = float(manifest["loop_offset"]) if "loop_offset" in manifest else None
    except (ValueError, KeyError, TypeError) as exc:
        raise ArchiveError(f"{path}: {MANIFEST}, {PEPWS_LOG} or {TIMELINE} is malformed: {exc!r}") from None
    return Incident(manifest, frames, events, causes, end, loop_offset)


def _folder(path: Path) -> dict[str, bytes]:
    return {name: (path / name).read_bytes() for name in (MANIFEST, PEPWS_LOG, TIMELINE) if (path / name).is_file()}


def _zip(path: Path) -> dict[str, bytes]:
    """The incident files of the archive by name, wherever its folder puts them."""
    try:
        with zipfile.ZipFile(path) as archive:
            return {
                Path(info.filename).name: archive.read(info)
                for info in archive.infolist()
                if Path(info.filename).name in (MANIFEST, PEPWS_LOG, TIMELINE)
            }
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError, NotImplementedError,
            RuntimeError) as exc:  # RuntimeError: encrypted; NotImplementedError: an unknown compression
        raise ArchiveError(f"{path}: not an incident archive (a zip file): {exc}") from None


def _json(files: dict[str, bytes], name: str) -> Any:
    if name not in files:
        raise ArchiveError(f"the archive holds no {name}: not an incident archive")
    try:
        return json.loads(files[name])
    except ValueError as exc:
        raise ArchiveError(f"{name} is not JSON: {exc}") from None


def _frame(line: dict[str, Any]) -> Frame:
    data: str | bytes
    if "binary" in line:
        try:
            data = base64.b64decode(line["binary"], validate=True)
        except binascii.Error as exc:
            raise ValueError(f"a binary frame that is not base64: {exc}") from None
    else:
        data = str(line["frame"])
    direction = line["dir"]
    if direction not in ("rx", "tx"):
        raise ValueError(f"dir {direction!r}: expected rx or tx")
    return Frame(float(line["ts"]), str(line["gun"]), direction == "rx", data, "cut_from" in line)


def decoded(data: str | bytes) -> dict[str, Any]:
    """A frame's JSON object; ``{}`` for one that is not (binary, cut or malformed)."""
    try:
        message = json.loads(data)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}
