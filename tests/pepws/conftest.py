"""Fixtures: a real PEP-WS server on 127.0.0.1 (port 0) and scripted SECC clients."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from pecc_core.chargepoint import ChargePoint
from pecc_core.plugins import PluginManager, default_manager
from pecc_core.profile import load as load_profile
from pecc_core.station import Station
from pecc_core.testing import write_profile
from pecc_plugins.pepws.server import PepWsServer

from .helpers import OfficialSchemas, PepClient, find_official_schemas

_SCHEMAS_DIR = find_official_schemas()
_OFFICIAL = OfficialSchemas(_SCHEMAS_DIR) if _SCHEMAS_DIR is not None else None
MISSING_SCHEMAS = (
    "official PEP-WS schemas not found: expected shared/pep-ws/schemas beside the "
    "repository or one of its parents (CI clones ../shared)"
)


@pytest.fixture(scope="session")
def official() -> OfficialSchemas:
    """The official schemas; tests that need nothing else are skipped without them."""
    if _OFFICIAL is None:
        pytest.skip(MISSING_SCHEMAS)
    return _OFFICIAL


@dataclass
class Pecc:
    """A started station with its PEP-WS server, and the clients opened on it."""

    station: Station
    server: PepWsServer
    clients: list[PepClient] = field(default_factory=list)

    def gun(self, gun_id: str = "1-1") -> ChargePoint:
        return self.station.guns[gun_id]

    def url(self, gun_id: str = "1-1", path: str | None = None) -> str:
        return f"ws://127.0.0.1:{self.server.port}{path or self.gun(gun_id).path}"

    async def connect(
        self, gun_id: str = "1-1", subprotocols: tuple[str, ...] | None = ("pep1.5",), **kw: Any
    ) -> PepClient:
        ws = await connect(
            self.url(gun_id), subprotocols=list(subprotocols) if subprotocols else None, **kw
        )
        client = PepClient(ws, _OFFICIAL, integers=not self.station.profile.station.float_values)
        self.clients.append(client)
        return client


StartPecc = Callable[..., Awaitable[Pecc]]


@pytest.fixture
async def start_pecc(tmp_path: Path) -> AsyncIterator[StartPecc]:
    """``await start_pecc({"timings.status_interval_ms": 100})``: a station on the sim profile.

    Every message any client received must be valid under the official
    schemas (and integer mode); that is checked when the test ends.
    """
    started: list[Pecc] = []

    async def start(
        overrides: dict[str, Any] | None = None, source: str = "sim", plugins: PluginManager | None = None
    ) -> Pecc:
        directory = tmp_path / f"profile{len(started)}"
        directory.mkdir()
        path = write_profile(source, directory, {"server.port": 0, **(overrides or {})})
        profile = load_profile(str(path))
        station = Station(profile, plugins or default_manager(), driver=None, io=None, policy=None)  # type: ignore[arg-type]
        server = PepWsServer(station, profile.server)
        await server.start()
        pecc = Pecc(station, server)
        started.append(pecc)
        return pecc

    yield start
    problems: list[str] = []
    for pecc in started:
        for client in pecc.clients:
            with contextlib.suppress(Exception):
                await client.close()
            problems.extend(client.problems)
        await pecc.server.stop()
    assert not problems, "messages from the PECC that break the official schemas:\n" + "\n".join(problems[:20])


@pytest.fixture
async def pecc(start_pecc: StartPecc) -> Pecc:
    """The sim station with default timings."""
    return await start_pecc()
