"""Fixtures: a real PEP-WS server on 127.0.0.1 (port 0) and scripted SECC clients.

The rig runs every test that uses it twice: on ``ws://`` and on ``wss://``
with mutual TLS, each SECC allowed only its own certificate (``scheme``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect

from pecc_core.gun import Gun
from pecc_core.plugins import PluginManager, default_manager
from pecc_core.profile import load as load_profile
from pecc_core.profile.model import Profile
from pecc_core.station import Station
from pecc_core.testing import running, sim_overrides, write_profile
from pecc_plugins.pepws.server import PepWsServer

from .helpers import OfficialSchemas, PepClient, find_official_schemas
from .tls_rig import LabCa

_SCHEMAS_DIR = find_official_schemas()
OFFICIAL = OfficialSchemas(_SCHEMAS_DIR) if _SCHEMAS_DIR is not None else None
MISSING_SCHEMAS = (
    "official PEP-WS schemas not found: expected shared/pep-ws/schemas beside the "
    "repository or one of its parents (CI clones ../shared)"
)


@pytest.fixture(scope="session")
def official() -> OfficialSchemas:
    """The official schemas; tests that need nothing else are skipped without them."""
    if OFFICIAL is None:
        pytest.skip(MISSING_SCHEMAS)
    return OFFICIAL


def sim_profile(
    directory: Path,
    channel: str,
    overrides: dict[str, Any] | None = None,
    plugins: PluginManager | None = None,
    source: str = "sim",
) -> Profile:
    """A whole simulated station (uugreen driver, module simulator, simulated I/O, static
    policy) from profile ``source``, on its own virtual CAN channel and port 0."""
    path = write_profile(source, directory, {**sim_overrides(channel, source=source), **(overrides or {})})
    return load_profile(str(path), plugins or default_manager())


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory: pytest.TempPathFactory) -> LabCa:
    return LabCa(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module", params=["ws", "wss"])
def scheme(request: pytest.FixtureRequest) -> str:
    """``ws`` or ``wss`` (mutual TLS): the rig's stations serve on both in turn."""
    return str(request.param)


@dataclass
class Pecc:
    """A started station with its PEP-WS server, and the clients opened on it."""

    station: Station
    server: PepWsServer
    ca: LabCa | None = None
    clients: list[PepClient] = field(default_factory=list)

    def gun(self, gun_id: str = "1-1") -> Gun:
        return self.station.guns[gun_id]

    def url(self, gun_id: str = "1-1", path: str | None = None) -> str:
        scheme = "ws" if self.ca is None else "wss"
        return f"{scheme}://127.0.0.1:{self.server.port}{path or self.gun(gun_id).path}"

    def ssl(self, gun_id: str = "1-1") -> Any:
        """The client TLS context of the gun's SECC (None on ``ws://``)."""
        return None if self.ca is None else self.ca.client(self.gun(gun_id).config.secc)

    async def connect(
        self, gun_id: str = "1-1", subprotocols: tuple[str, ...] | None = ("pep1.5",), **kw: Any
    ) -> PepClient:
        kw.setdefault("ssl", self.ssl(gun_id))
        ws = await connect(
            self.url(gun_id), subprotocols=list(subprotocols) if subprotocols else None, **kw
        )
        client = PepClient(ws, OFFICIAL, integers=not self.station.profile.station.float_values)
        self.clients.append(client)
        return client

    async def close_clients(self) -> list[str]:
        """Close every client; what they received that breaks the official schemas."""
        problems = []
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()
            problems.extend(client.problems)
        self.clients.clear()
        return problems


def assert_valid(problems: list[str]) -> None:
    assert not problems, "messages from the PECC that break the official schemas:\n" + "\n".join(problems[:20])


StartPecc = Callable[..., Awaitable[Pecc]]


@pytest.fixture
async def start_pecc(
    tmp_path: Path, can_channel: str, scheme: str, lab_ca: LabCa
) -> AsyncIterator[StartPecc]:
    """``await start_pecc({"timings.status_interval_ms": 100})``: a whole sim station running.

    Every message any client received must be valid under the official
    schemas (and integer mode); that is checked when the test ends.
    """
    started: list[Pecc] = []
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            overrides: dict[str, Any] | None = None,
            plugins: PluginManager | None = None,
            source: str = "sim",
        ) -> Pecc:
            n = len(started)
            directory = tmp_path / f"profile{n}"
            directory.mkdir()
            plugins = plugins or default_manager()
            ca = lab_ca if scheme == "wss" else None
            if ca is not None:
                overrides = {**ca.overrides(source), **(overrides or {})}
            profile = sim_profile(directory, f"{can_channel}-{n}", overrides, plugins, source)
            runtime = await stack.enter_async_context(running(profile, plugins))
            pecc = Pecc(runtime.station, runtime.transport, ca)  # type: ignore[arg-type]
            started.append(pecc)
            return pecc

        yield start
        problems = [p for pecc in started for p in await pecc.close_clients()]
    assert_valid(problems)


_shared = itertools.count()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_pecc(
    tmp_path_factory: pytest.TempPathFactory, scheme: str, lab_ca: LabCa
) -> AsyncIterator[Pecc]:
    """One sim station for a whole test module, on the module's loop.

    For tests that leave the station as they found it (monkeypatch for the
    gun): starting a station costs little, stopping one ~0.2 s.
    """
    plugins = default_manager()
    channel = f"pecc-shared-{os.getpid()}-{next(_shared)}"
    ca = lab_ca if scheme == "wss" else None
    overrides = ca.overrides() if ca is not None else None
    profile = sim_profile(tmp_path_factory.mktemp("shared"), channel, overrides, plugins=plugins)
    async with running(profile, plugins) as runtime:
        pecc = Pecc(runtime.station, runtime.transport, ca)  # type: ignore[arg-type]
        yield pecc
        problems = await pecc.close_clients()
    assert_valid(problems)


@pytest.fixture
async def pecc(start_pecc: StartPecc) -> Pecc:
    """The sim station with default timings."""
    return await start_pecc()
