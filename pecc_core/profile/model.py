"""The typed, validated form of a profile: what the rest of PECC reads.

These objects are built only by :mod:`pecc_core.profile.schema`, after
every check has passed, so code that receives them may trust them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pecc_core.power import ModuleId

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class PluginChoice:
    """A plugin thing picked by name, with its validated parameters.

    ``raw`` keeps the params as written, so run-time updates (control API)
    can merge changes into them and validate the whole again.
    """

    name: str
    params: Any = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class StationConfig:
    name: str
    manufacturer: str
    firmware_version: str
    float_values: bool
    allow_oversize: bool


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """``[server.tls]``: the server's certificate and, for mutual TLS, the CA of the SECCs'."""

    cert: Path
    key: Path
    client_ca: Path | None
    require_client_cert: bool


@dataclass(frozen=True, slots=True)
class ServerConfig:
    transport: str
    host: str
    port: int
    subprotocols: tuple[str, ...]
    require_subprotocol: bool
    max_frame_bytes: int
    send_queue: int
    tls: TlsConfig | None = None
    #: Refuse to start on a non-loopback address where any SECC is open to anyone.
    refuse_insecure: bool = False
    #: Time for the TLS and the WebSocket handshakes (each) before the socket is cut.
    handshake_timeout_ms: int = 3000
    #: Connections that have not finished their handshakes, in total and per peer
    #: address (0: one per gun of the station).
    max_handshakes: int = 256
    max_handshakes_per_peer: int = 0

    @property
    def scheme(self) -> str:
        return "wss" if self.tls is not None else "ws"


@dataclass(frozen=True, slots=True)
class Timings:
    """Protocol and hardware timings, in milliseconds."""

    status_interval_ms: int
    request_timeout_ms: int
    secc_unresponsive_ms: int
    ping_interval_ms: int
    control_cycle_ms: int
    cable_check_ms: int
    precharge_ms: int


@dataclass(frozen=True, slots=True)
class SafetyConfig:
    """The cable check, voltage supervision and shutdown settings (IEC 61851-23:2023).

    ``docs/safety.md`` says which clause each one serves.
    """

    #: Fixed cable-check test voltage (V); None: Formula CC.1.
    cable_check_voltage: float | None
    #: The test voltage counts as reached within this many volts of it.
    cable_check_tolerance_v: float
    #: How long the output may take to reach the test voltage (ms).
    cable_check_voltage_ms: int
    #: Where the IMD self-test runs: after closing (at the test voltage), before, or both.
    imd_self_test: str
    #: Bound on one IMD self-test (ms).
    imd_self_test_ms: int
    #: Fresh isolation samples needed after the self-test, and the bound on each (ms).
    isolation_samples: int
    isolation_sample_ms: int
    #: "2023" (warning is not a pass) or "2014" (warning passes).
    edition: str
    #: Outputs off and below 60 V before the cable check's result is reported.
    cable_check_discharge: bool
    #: Error over-voltage: at or above the EV's maximum this long (ms).
    error_over_voltage_ms: int
    #: Two voltage sources may differ by this much (V).
    plausibility_v: float
    #: Rising current limit (A/s); falling current follows at once.
    ramp_a_per_s: float
    #: A reading older than this is stale: unknown, never taken as safe (ms).
    reading_stale_ms: int
    #: How long a cable check waits for a power module to free (ms), within PE_CABLE_CHECK_TIME.
    module_wait_ms: int


@dataclass(frozen=True, slots=True)
class GunConfig:
    """One gun (charge point): its URL and its hardware limits."""

    id: str
    secc: str
    path: str
    voltage_min: float
    voltage_max: float
    current_min: float
    current_max: float
    power_max: float
    precharge_current: float
    bidirectional: bool


@dataclass(frozen=True, slots=True)
class SeccAllow:
    """Who may be this SECC: every non-empty kind of entry must match.

    ``names`` are client-certificate subject CN or subjectAltName values,
    ``fingerprints`` SHA-256 digests of the client certificate (lower-case
    hex), ``networks`` the source addresses. Empty: anyone who reaches the
    URL (and passes mutual TLS, if required).
    """

    names: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    networks: tuple[IpNetwork, ...] = ()

    @property
    def open(self) -> bool:
        return not (self.names or self.fingerprints or self.networks)


@dataclass(frozen=True, slots=True)
class SeccConfig:
    id: str
    guns: tuple[GunConfig, ...]
    allow: SeccAllow = SeccAllow()


@dataclass(frozen=True, slots=True)
class ModuleConfig:
    """One power module: its bus and address there, ratings and reachable guns."""

    address: int
    voltage_min: float
    voltage_max: float
    current_max: float
    power_max: float
    guns: tuple[str, ...]
    bus: str

    @property
    def id(self) -> ModuleId:
        return ModuleId(self.bus, self.address)


@dataclass(frozen=True, slots=True)
class PowerBusConfig:
    """One bus of power modules and the driver that owns it.

    ``key`` is where the profile writes it (``power`` in the single-bus
    form, ``power.buses[i]`` otherwise), for messages about it.
    """

    name: str
    driver: PluginChoice
    modules: tuple[ModuleConfig, ...]
    key: str = field(default="power", compare=False)


@dataclass(frozen=True, slots=True)
class PowerConfig:
    buses: tuple[PowerBusConfig, ...]
    max_modules_per_gun: int

    @property
    def modules(self) -> tuple[ModuleConfig, ...]:
        """Every module of every bus, in profile order."""
        return tuple(m for bus in self.buses for m in bus.modules)


@dataclass(frozen=True, slots=True)
class IoConfig:
    contactors: PluginChoice
    imd: PluginChoice
    supervision: PluginChoice
    matrix: PluginChoice
    #: Optional roles: an emergency-stop input, a voltage sensor at the connector.
    estop: PluginChoice | None = None
    connector: PluginChoice | None = None


@dataclass(frozen=True, slots=True)
class SiteConfig:
    max_power_w: float | None


@dataclass(frozen=True, slots=True)
class Profile:
    """A whole validated deployment description."""

    name: str
    source: Path
    log_level: str
    station: StationConfig
    server: ServerConfig
    timings: Timings
    safety: SafetyConfig
    seccs: tuple[SeccConfig, ...]
    power: PowerConfig
    io: IoConfig
    policy: PluginChoice
    site: SiteConfig
    services: tuple[PluginChoice, ...]
    log_format: str = "text"
    #: Levels of single loggers (over ``log_level``), e.g. ``{"pecc_plugins.pepws": "DEBUG"}``.
    log_levels: Mapping[str, str] = field(default_factory=dict)

    @property
    def guns(self) -> tuple[GunConfig, ...]:
        """Every gun of every SECC, in profile order."""
        return tuple(g for s in self.seccs for g in s.guns)

    def url(self, gun: GunConfig, host: str | None = None, port: int | None = None) -> str:
        """The WebSocket URL an SECC uses for ``gun`` (``wss://`` with TLS)."""
        return f"{self.server.scheme}://{host or self.server.host}:{port or self.server.port}{gun.path}"
