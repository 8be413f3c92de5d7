"""A socketcan interface's state as ``ip -details -json link show`` and /sys report it.

``pecc doctor`` compares it with the profile and with docs/bring-up.md.
The bitrate, ``restart-ms`` and the controller state exist only in the
netlink answer (``ip`` of iproute2); without ``ip`` only what /sys has is
known (up or down, the transmit queue) and the rest stays None.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYSFS_NET = Path("/sys/class/net")
#: ``flags`` bit of an interface set up (``ip link set DEV up``).
IFF_UP = 0x1
IP_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class LinkState:
    """What is known of one interface; None where nothing said it."""

    admin_up: bool  #: set up (``ip link set DEV up``)
    operstate: str  #: the kernel's: up, down (e.g. a CAN controller in bus-off), unknown
    txqueuelen: int | None = None
    bitrate: int | None = None
    restart_ms: int | None = None
    #: the CAN controller's state: ERROR-ACTIVE, ERROR-WARNING, ERROR-PASSIVE, BUS-OFF, STOPPED
    can_state: str | None = None

    @property
    def up(self) -> bool:
        """Set up and not down."""
        return self.admin_up and self.operstate != "down"


async def link_state(channel: str, sysfs: Path = SYSFS_NET) -> LinkState | None:
    """The state of interface ``channel``, or None if there is no such interface."""
    directory = sysfs / channel
    if not directory.is_dir():
        return None
    return parse(directory, await ip_details(channel))


async def ip_details(channel: str) -> dict[str, Any] | None:
    """``ip -details -json link show dev CHANNEL`` as a dict; None without ``ip`` or an answer it understands."""
    ip = shutil.which("ip")
    if ip is None:
        return None
    process = await asyncio.create_subprocess_exec(
        ip, "-details", "-json", "link", "show", "dev", channel,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(IP_TIMEOUT_S):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return None
    try:
        answer = json.loads(out)
    except ValueError:
        return None
    return answer[0] if isinstance(answer, list) and answer and isinstance(answer[0], dict) else None


def parse(directory: Path, details: dict[str, Any] | None) -> LinkState:
    """The state from the /sys ``directory`` of the interface and ``ip``'s ``details`` (None: /sys only)."""
    operstate = _read(directory / "operstate") or "unknown"
    flags = _read(directory / "flags")
    queue = _read(directory / "tx_queue_len")
    admin_up = bool(int(flags, 16) & IFF_UP) if flags else operstate == "up"
    state = LinkState(admin_up, operstate, int(queue) if queue else None)
    if details is None:
        return state
    data = details.get("linkinfo", {}).get("info_data", {})
    timing = data.get("bittiming", {})
    return LinkState(
        admin_up=state.admin_up,
        operstate=state.operstate,
        txqueuelen=_int(details.get("txqlen"), state.txqueuelen),
        bitrate=_int(timing.get("bitrate"), None),
        restart_ms=_int(data.get("restart_ms"), None),
        can_state=data.get("state") if isinstance(data.get("state"), str) else None,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(value: object, default: int | None) -> int | None:
    return value if isinstance(value, int) else default
