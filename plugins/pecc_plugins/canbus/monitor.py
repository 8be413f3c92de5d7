"""Watch a bus and explain its traffic per module: the engine of ``pecc can monitor``.

:func:`watch` opens the bus read-only (it never sends a frame), reads it
with a :class:`~pecc_plugins.canbus.reader.BusReader` and hands each frame
with what the vendor's :class:`~pecc_plugins.canbus.decoder.FrameDecoder`
makes of it to a callback; :class:`Traffic` keeps the latest of everything
per module for a live table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

import can

from pecc_plugins.canbus.decoder import Decoded, FrameDecoder, Kind
from pecc_plugins.canbus.link import BusConfig
from pecc_plugins.canbus.reader import BusReader

FrameCallback = Callable[[can.Message, tuple[Decoded, ...]], None]


def shown(decoded: Decoded) -> str:
    """The value of ``decoded`` as a table cell: ``500 V``, ``on``."""
    value = decoded.value
    if value is None:
        return ""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {decoded.unit}".rstrip()


@dataclass(slots=True)
class ModuleTraffic:
    """The latest of everything seen for one module."""

    address: int
    setpoints: dict[str, str] = field(default_factory=dict)  # name -> shown value (commands too)
    readings: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    errors: int = 0
    last_error: str = ""
    frames: int = 0


@dataclass(slots=True)
class Traffic:
    """Decoded traffic per module, as a live table shows it."""

    modules: dict[int, ModuleTraffic] = field(default_factory=dict)
    frames: int = 0
    unknown: int = 0  # frames the decoder did not recognise
    broadcast: int = 0  # frames to all modules or a group

    def add(self, decoded: tuple[Decoded, ...]) -> None:
        self.frames += 1
        if not decoded:
            self.unknown += 1
            return
        counted: set[int] = set()
        for item in decoded:
            if item.module is None:
                self.broadcast += 1
                continue
            module = self.modules.get(item.module)
            if module is None:
                module = self.modules[item.module] = ModuleTraffic(item.module)
            if item.module not in counted:
                module.frames += 1
                counted.add(item.module)
            if item.kind is Kind.SETPOINT or item.kind is Kind.COMMAND:
                module.setpoints[item.name] = shown(item)
            elif item.kind is Kind.READING:
                module.readings[item.name] = shown(item)
            elif item.kind is Kind.STATUS:
                module.flags = item.flags
            if item.error:
                module.errors += 1
                module.last_error = f"{item.name}: {item.error}"


def driver_bus(factory: object, settings: object) -> tuple[BusConfig, FrameDecoder] | None:
    """The bus and the frame decoder of a power driver (its factory and validated params).

    None unless it is a CAN driver (``settings.bus``) whose protocol has a
    decoder (:meth:`~pecc_plugins.canbus.moduledriver.ModuleDriver.frame_decoder`).
    """
    bus = getattr(settings, "bus", None)
    make = getattr(factory, "frame_decoder", None)
    if not isinstance(bus, BusConfig) or make is None:
        return None
    try:
        decoder: FrameDecoder = make(settings)
    except NotImplementedError:
        return None
    return bus, decoder


async def watch(config: BusConfig, decoder: FrameDecoder, on_frame: FrameCallback, stop: asyncio.Event) -> None:
    """Read the bus of ``config`` until ``stop`` is set; raises if it cannot be opened or read."""
    loop = asyncio.get_running_loop()
    bus = await asyncio.to_thread(can.Bus, interface=config.interface, channel=config.channel, bitrate=config.bitrate)
    failed: list[Exception] = []

    def received(msg: can.Message) -> None:
        if msg.is_error_frame or msg.is_remote_frame:
            return
        on_frame(msg, decoder.decode(msg.arbitration_id, bytes(msg.data)))

    def error(exc: Exception) -> None:
        failed.append(exc)
        stop.set()

    reader = BusReader(bus, received, error, loop, config.rx_poll_s)
    reader.start()
    try:
        await stop.wait()
    finally:
        reader.stop()
        if reader.threaded:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(config.rx_poll_s)  # the reader thread leaves recv
        bus.shutdown()
    if failed:
        raise failed[0]
