"""A CAN bus that spans processes on one machine: python-can interface ``unixcan``.

The simulated hardware runs in its own process (``pecc sim-hw``), so the
PECC and the simulated modules need a bus that outlives either side, as a
real CAN bus does. ``virtual`` is per process; python-can's
``udp_multicast`` binds every interface. This one stays on a Unix socket:

- :class:`BusHub` (run by the hardware process, it *is* the wiring) accepts
  connections on a Unix stream socket and copies every frame it gets to
  every other connection, never back to the sender (a CAN controller does
  not receive its own frames either);
- :class:`UnixCanBus` is the python-can interface (entry point group
  ``can.interface``, name ``unixcan``): ``can.Bus(interface="unixcan",
  channel="pecc-sim")``. A node that dies leaves the bus; the others go on.

``channel`` is a socket path, or a name placed in the runtime directory
(``$XDG_RUNTIME_DIR``, else the temp directory) by :func:`socket_path`.
Frames are fixed 80-byte records (timestamp, identifier, flags, length,
64 data bytes): one ``recv`` reads exactly one frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import socket
import struct
import tempfile
from pathlib import Path
from typing import Any

import can

from pecc_core.clock import wall

log = logging.getLogger(__name__)

RECORD = struct.Struct("<dIBB2x64s")
_EXTENDED, _REMOTE, _ERROR, _FD, _BRS, _ESI = 1, 2, 4, 8, 16, 32
#: a connection whose unread backlog passes this is a dead reader: the hub drops it
HUB_BACKLOG_MAX = 4 * 1024 * 1024
SEND_BUFFER = 1 << 20
#: bounds the wait for the rest of a record once its first bytes arrived
RECEIVE_TIMEOUT_S = 0.5


def socket_path(channel: str, kind: str = "can") -> Path:
    """The socket of ``channel``: itself if it is a path, else one in the runtime directory."""
    if "/" in channel:
        return Path(channel)
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    return Path(base) / f"pecc-{kind}-{channel}.sock"


def encode(msg: can.Message) -> bytes:
    flags = (
        (_EXTENDED if msg.is_extended_id else 0)
        | (_REMOTE if msg.is_remote_frame else 0)
        | (_ERROR if msg.is_error_frame else 0)
        | (_FD if msg.is_fd else 0)
        | (_BRS if msg.bitrate_switch else 0)
        | (_ESI if msg.error_state_indicator else 0)
    )
    return RECORD.pack(msg.timestamp, msg.arbitration_id, flags, msg.dlc, bytes(msg.data))


def decode(record: bytes, channel: str) -> can.Message:
    timestamp, arbitration_id, flags, dlc, data = RECORD.unpack(record)
    fd = bool(flags & _FD)
    return can.Message(
        timestamp=timestamp,
        arbitration_id=arbitration_id,
        is_extended_id=bool(flags & _EXTENDED),
        is_remote_frame=bool(flags & _REMOTE),
        is_error_frame=bool(flags & _ERROR),
        is_fd=fd,
        bitrate_switch=bool(flags & _BRS),
        error_state_indicator=bool(flags & _ESI),
        dlc=dlc,
        data=data[: can.util.dlc2len(dlc) if fd else min(dlc, 8)],
        channel=channel,
        check=False,
    )


class UnixCanBus(can.BusABC):
    """One node on a :class:`BusHub`; opening fails (``CanInitializationError``) while no hub runs."""

    def __init__(self, channel: str, **kwargs: Any) -> None:
        self._channel = str(channel)
        self._path = socket_path(self._channel)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._sock.connect(str(self._path))
        except OSError as exc:
            self._sock.close()
            raise can.CanInitializationError(f"no CAN hub at {self._path}: {exc.strerror or exc}") from exc
        # room for bursts (a whole station's poll) while the hub's process is busy
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        # non-blocking, no timeout: Python polls before every call on a socket with a
        # timeout; here a frame is one system call each way, and waits are explicit
        self._sock.setblocking(False)
        self.channel_info = f"unixcan {self._path}"
        super().__init__(channel, **kwargs)

    def fileno(self) -> int:
        return self._sock.fileno()

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Queue one frame without blocking: a full buffer is ``ENOBUFS``, as a full transmit queue.

        A record is far smaller than a socket buffer's unit, so the kernel
        takes it whole or not at all; the stream never holds half a frame.
        """
        record = encode(msg)
        try:
            sent = self._sock.send(record)
        except BlockingIOError:
            raise can.CanOperationError("unixcan: transmit buffer full", errno.ENOBUFS) from None
        except OSError as exc:
            raise can.CanOperationError(f"unixcan: {exc.strerror or exc}", exc.errno) from exc
        if sent != len(record):  # not seen on Linux; if it ever happens, finish the record
            self._finish(memoryview(record)[sent:])

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        """One frame, or None once ``timeout`` passed (0: only a frame already here)."""
        if timeout != 0.0 and not self._wait(select.POLLIN, timeout):
            return None, False
        try:
            record = self._sock.recv(RECORD.size)
        except BlockingIOError:
            return None, False
        except OSError as exc:
            raise can.CanOperationError(f"unixcan: {exc.strerror or exc}", exc.errno) from exc
        if len(record) < RECORD.size:
            record = self._rest(record)
        msg = decode(record, self._channel)
        msg.timestamp = wall()  # the receive time, as a CAN controller stamps it
        return msg, False

    def _wait(self, events: int, timeout: float | None) -> bool:
        """True once the socket is ready for ``events`` (None: wait as long as it takes)."""
        poller = select.poll()
        poller.register(self._sock, events)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000))))

    def _rest(self, record: bytes) -> bytes:
        """``record`` completed to a whole frame; the hub closing the bus (no bytes) raises."""
        parts = [record]
        missing = RECORD.size - len(record)
        while missing:
            if not record:
                raise can.CanOperationError("unixcan: the hub closed the bus", errno.ENOTCONN)
            if not self._wait(select.POLLIN, RECEIVE_TIMEOUT_S):
                raise can.CanOperationError("unixcan: a frame arrived cut short", errno.EPROTO)
            try:
                record = self._sock.recv(missing)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise can.CanOperationError(f"unixcan: {exc.strerror or exc}", exc.errno) from exc
            parts.append(record)
            missing -= len(record)
        return b"".join(parts)

    def _finish(self, rest: memoryview) -> None:
        """Write the rest of a record the kernel took in part (bounded by :data:`RECEIVE_TIMEOUT_S`)."""
        while rest:
            if not self._wait(select.POLLOUT, RECEIVE_TIMEOUT_S):
                raise can.CanOperationError("unixcan: the hub does not take frames", errno.ETIMEDOUT)
            try:
                rest = rest[self._sock.send(rest):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise can.CanOperationError(f"unixcan: {exc.strerror or exc}", exc.errno) from exc

    def shutdown(self) -> None:
        super().shutdown()
        self._sock.close()


class BusHub:
    """The wiring between the nodes: every frame to every other node."""

    def __init__(self, channel: str) -> None:
        self.path = socket_path(channel)
        self._server: asyncio.Server | None = None
        self._nodes: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a hub that died leaves its socket file behind
        self._server = await asyncio.start_unix_server(self._node, path=str(self.path))
        self.path.chmod(0o600)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for node in list(self._nodes):
                node.close()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _node(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._nodes.add(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            while True:
                record = await reader.readexactly(RECORD.size)
                for node in tuple(self._nodes):
                    if node is writer:
                        continue
                    if node.transport.get_write_buffer_size() > HUB_BACKLOG_MAX:
                        log.warning("CAN hub %s: a node stopped reading; dropping it", self.path)
                        self._nodes.discard(node)
                        node.close()
                        continue
                    node.write(record)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._nodes.discard(writer)
            self._handlers.discard(handler)
            writer.close()
