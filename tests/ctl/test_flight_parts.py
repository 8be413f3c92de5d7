"""The flight recorder's parts alone: its ring (pruned by time, bounded) and the incident store."""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path
from typing import Any

import can
import pytest

from pecc_core.power import ModuleId
from pecc_plugins.ctl.incidents import Capture, IncidentStore
from pecc_plugins.ctl.ring import BudgetRing, BudgetRings, Ring

# -- the ring -------------------------------------------------------------------------------


def test_the_ring_keeps_the_last_seconds_only() -> None:
    ring: Ring[tuple[float, int]] = Ring(10.0, 1000)
    for second in range(31):
        ring.add((float(second), second))
    assert [e[1] for e in ring.copy()] == list(range(20, 31))  # 10 s before the newest, both ends kept


def test_the_ring_is_bounded_in_count_whatever_the_window() -> None:
    ring: Ring[tuple[float, int]] = Ring(10.0, 5)
    for n in range(100):
        ring.add((0.001 * n, n))  # all within the window
    assert [e[1] for e in ring.copy()] == [95, 96, 97, 98, 99]


def test_a_budget_ring_keeps_its_bytes_and_the_newest_entry() -> None:
    ring: BudgetRing[tuple[float, str]] = BudgetRing(10.0, 100, 10)
    for n in range(10):
        ring.add((0.1 * n, "x" * 15))  # 25 bytes each: four fit
    assert [e[0] for e in ring.copy()] == pytest.approx([0.6, 0.7, 0.8, 0.9]) and ring.bytes == 100
    ring.add((1.0, "y" * 500))  # alone over the budget: it stays, alone
    assert ring.copy() == [(1.0, "y" * 500)] and ring.bytes == 510
    ring.add((20.0, ""))  # and the time still prunes
    assert ring.copy() == [(20.0, "")] and ring.bytes == 10


def test_a_flood_on_one_key_pushes_out_its_own_entries_only() -> None:
    """Two guns share 200 bytes, 100 each: gun b's frames stay while gun a floods."""
    rings: BudgetRings[tuple[float, str, str]] = BudgetRings(["a", "b"], 10.0, 200, 10)
    rings.add((0.0, "b", "x" * 15))
    rings.add((0.5, "b", "y" * 15))
    for n in range(50):
        rings.add((1.0 + 0.01 * n, "a", "z" * 40))  # 50 bytes each: two fit in a's share
    rings.add((2.0, "c", "not a gun of the station"))
    assert [e[:2] for e in rings.copy(["a", "b"])] == [(0.0, "b"), (0.5, "b"), (1.48, "a"), (1.49, "a")]
    assert rings.bytes == 50 + 100 and len(rings) == 4
    assert [e[0] for e in rings.copy(["b"])] == [0.0, 0.5]


def test_a_copy_does_not_change_with_the_ring() -> None:
    ring: Ring[tuple[float, str]] = Ring(1.0, 10)
    ring.add((0.0, "a"))
    copy = ring.copy()
    ring.add((5.0, "b"))
    assert copy == [(0.0, "a")] and ring.copy() == [(5.0, "b")] and len(ring) == 1


# -- the store ------------------------------------------------------------------------------

EPOCH = 1_790_000_000.0  # loop time 0 in Unix time
A2, B1 = ModuleId("a", 2), ModuleId("b", 1)


def capture(t: float, gun: str = "1-1", frames: int = 10, payload: int = 0) -> Capture:
    """An incident at loop time ``t``: ``frames`` CAN frames and PEP-WS frames before it."""
    # two buses: the even frames on the first (BLF channel 0), the odd ones on the second
    can_frames = [(t - i * 0.1, i % 2 == 0, 0x02204000 + i, True, bytes(8), i % 2) for i in range(frames)][::-1]
    status = b'{"kind":"status"}' + b" " * payload
    pepws = [(t - 1.0, gun, False, len(status), status), (t - 0.5, "other", True, 2, "{}"),
             (t - 0.2, gun, True, 70_000, "[" * 10)]
    timeline = [(t, gun, "fault", ("gun 1-1: power module 1 fault: hardware", True)), (t, gun, "modules", (A2, B1))]
    cause = {"t": t, "gun": gun, "reason": "fault", "detail": "power module 1 fault", "kind": "module",
             "modules": [A2]}
    return Capture(t - 30.0, t + 3.0, EPOCH, (gun,), [cause], {"buses": [{"name": "a", "channel": 0}]},
                   can_frames, pepws, timeline)


def test_an_incident_holds_its_files(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 50, 10**9)
    entry = store.write(capture(100.0))
    assert entry["id"] == "20260921T141500.000Z-1-1" and entry["guns"] == ["1-1"] and entry["reason"] == "fault"
    folder = tmp_path / entry["id"]
    frames = list(can.BLFReader(folder / "can.blf"))
    assert len(frames) == 10 and frames[-1].arbitration_id == 0x02204000
    assert frames[-1].timestamp == pytest.approx(EPOCH + 100.0) and frames[-1].is_rx
    assert [f.channel for f in frames[-2:]] == [1, 0]  # each bus on its own channel
    lines = [json.loads(line) for line in (folder / "pepws.jsonl").read_text().splitlines()]
    assert lines == [
        {"ts": EPOCH + 99.0, "gun": "1-1", "dir": "tx", "frame": '{"kind":"status"}'},
        {"ts": EPOCH + 99.8, "gun": "1-1", "dir": "rx", "cut_from": 70_000, "frame": "[" * 10},
    ]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["modules"] == {"1-1": ["a:2", "b:1"]} and manifest["entries"]["can.blf"] == 10
    assert manifest["buses"] == [{"name": "a", "channel": 0}] and manifest["causes"][0]["ts"] == EPOCH + 100.0
    assert manifest["causes"][0]["modules"] == ["a:2"]
    timeline = json.loads((folder / "timeline.json").read_text())
    assert timeline[-1]["modules"] == ["a:2", "b:1"]
    assert store.list() == [entry]
    with zipfile.ZipFile(io.BytesIO(store.archive(entry["id"]) or b"")) as archive:
        assert sorted(archive.namelist()) == sorted(f"{entry['id']}/{f.name}" for f in folder.iterdir())


def test_an_incidents_timeline_is_read_with_its_causes_and_window(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 50, 10**9)
    entry = store.write(capture(100.0))
    found = store.timeline(entry["id"])
    assert found is not None and {k: found[k] for k in entry} == entry
    assert found["timeline"] == json.loads((tmp_path / entry["id"] / "timeline.json").read_text())
    assert found["timeline"][0] == {"ts": EPOCH + 100.0, "gun": "1-1", "kind": "fault",
                                    "fault": "gun 1-1: power module 1 fault: hardware", "active": True}
    assert found["causes"][0]["ts"] == EPOCH + 100.0 and found["causes"][0]["kind"] == "module"
    assert found["window"] == {"from": "2026-09-21T14:14:30.000Z", "to": "2026-09-21T14:15:03.000Z"}


def test_retention_keeps_the_newest_by_count(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 3, 10**9)
    ids = [store.write(capture(100.0 + i))["id"] for i in range(5)]
    assert [e["id"] for e in store.list()] == ids[:1:-1]  # the three newest, newest first


def test_retention_keeps_the_newest_by_bytes(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 50, 10**9)
    first = store.write(capture(100.0, payload=20_000))
    store.max_bytes = first["size"] * 2 + first["size"] // 2  # room for two and a half
    ids = [store.write(capture(101.0 + i, payload=20_000))["id"] for i in range(3)]
    assert [e["id"] for e in store.list()] == ids[:0:-1]
    store.max_bytes = 1  # too small for any: the newest stays all the same
    newest = store.write(capture(200.0))
    assert store.list() == [newest]


def test_two_incidents_in_the_same_millisecond_get_their_own_ids(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 50, 10**9)
    first, second = store.write(capture(100.0)), store.write(capture(100.0))
    assert second["id"] == first["id"] + "-2" and len(store.list()) == 2


def test_a_write_that_fails_halfway_lists_nothing_and_leaves_nothing(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 50, 10**9)
    broken = capture(100.0)
    broken.can.append((100.0, True, -1, True, b"", 0))  # not an identifier: the CAN log fails mid-write
    with pytest.raises(struct.error):
        store.write(broken)
    assert store.list() == [] and list(tmp_path.iterdir()) == []


def test_the_rename_into_place_is_synced_before_the_write_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    fsync = os.fsync

    def recording(descriptor: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        fsync(descriptor)

    monkeypatch.setattr(os, "fsync", recording)
    entry = IncidentStore(tmp_path, 50, 10**9).write(capture(100.0))
    folder = tmp_path / entry["id"]
    # every file synced in the temporary folder, then the folder holding its new name
    assert {Path(p).name for p in synced[:-1]} == {"can.blf", "pepws.jsonl", "timeline.json", "manifest.json"}
    assert synced[-1] == str(tmp_path) and folder.is_dir()


def test_what_a_crash_left_is_not_listed_and_removed_at_start(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path, 50, 10**9)
    leftover = tmp_path / ".tmp-20260921T141500.000Z-1-1"
    leftover.mkdir()
    (leftover / "can.blf").write_bytes(b"half")
    assert store.list() == []
    store.clean()
    assert not leftover.exists()


@pytest.mark.parametrize("asked", ["nope", "../state", "20260921T141500.000Z-1-1"])
def test_an_unknown_or_outside_id_has_no_archive(tmp_path: Path, asked: Any) -> None:
    (tmp_path / "incidents").mkdir()
    store = IncidentStore(tmp_path / "incidents", 50, 10**9)
    assert store.archive(asked) is None and store.timeline(asked) is None
