"""The CAN vendor SDK: everything a power-module driver on a CAN bus shares.

A vendor package builds its driver on these (docs/can-drivers.md, "Writing
a driver"); PECC's own ``uugreen`` and ``infy`` drivers and the ``modsim``
simulator use nothing else. The public surface is :data:`__all__`:

- :class:`ModuleDriver`: the vendor-neutral half of a power driver
  (polling, offline detection and recovery, current split, cached
  setpoints, ``wait_off``). Hooks a vendor driver implements:
  :meth:`ModuleDriver.decode`, :meth:`~ModuleDriver.poll` (which
  :class:`Reading` of a module), :meth:`~ModuleDriver.apply` (required);
  :meth:`~ModuleDriver.update`, :meth:`~ModuleDriver.poll_bus`,
  :meth:`~ModuleDriver.prepare`, :meth:`~ModuleDriver.current_cap`,
  :meth:`~ModuleDriver.settled`, :meth:`~ModuleDriver.forget`,
  :meth:`~ModuleDriver.slot`, :meth:`~ModuleDriver.frame_decoder`,
  :meth:`~ModuleDriver.poll_frames` (optional). Helpers it calls: :meth:`~ModuleDriver.send`,
  :meth:`~ModuleDriver.send_state`, :meth:`~ModuleDriver.heard`,
  :meth:`~ModuleDriver.measured`, :meth:`~ModuleDriver.voltage_measured`,
  :meth:`~ModuleDriver.faults_reported`,
  :meth:`~ModuleDriver.output_reported`, :meth:`~ModuleDriver.notify`.
  Its underscored names are internals, not for vendor code;
- :class:`CanLink`: one self-healing bus on the asyncio loop, with a
  :class:`TxScheduler` (priority classes :class:`Priority`, pacing,
  retries) and counters (:class:`BusStats`, the core's
  :class:`pecc_core.power.BusStats`: what the ops server's metrics read);
- :class:`DriverParams` / :class:`BusParams` and :func:`bus_config`,
  :func:`driver_timing`: the profile params every CAN plugin shares;
- :class:`FrameDecoder`, :class:`Decoded`, :class:`Kind`: how a driver
  explains its frames to ``pecc can monitor``; :class:`PollFrames`: what
  its frames cost, for the bus budget;
- :func:`milli`, :func:`stuffed_bits`, :func:`is_transient`, :class:`Episode`.

The ``timedvirtual`` python-can interface (:mod:`.timedbus`) gives tests
and simulators a bus with a real bus's timing and transmit queue.

This package is also a plugin: it adds ``pecc can monitor``, the bus
budget ``pecc profiles validate`` and ``pecc run`` judge a profile by
(:mod:`.budget`), and the checks ``pecc doctor`` runs on the bus of a CAN
power driver (:mod:`.doctor`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pecc_core import hookimpl
from pecc_core.episode import Episode
from pecc_core.power import BusStats
from pecc_plugins.canbus.decoder import Decoded, FrameDecoder, Kind, bit_names
from pecc_plugins.canbus.link import BusConfig, CanLink
from pecc_plugins.canbus.load import stuffed_bits
from pecc_plugins.canbus.moduledriver import ModuleDriver
from pecc_plugins.canbus.params import BusParams, DriverParams, bus_config, driver_timing
from pecc_plugins.canbus.polling import DriverTiming, PollFrames, Reading
from pecc_plugins.canbus.scale import milli
from pecc_plugins.canbus.scheduler import Priority, TxConfig, TxScheduler, is_transient

if TYPE_CHECKING:
    from pecc_core.doctor import Check, Finding
    from pecc_core.profile.model import Profile
    from pecc_core.registry import Registry

__all__ = [
    "BusConfig",
    "BusParams",
    "BusStats",
    "CanLink",
    "Decoded",
    "DriverParams",
    "DriverTiming",
    "Episode",
    "FrameDecoder",
    "Kind",
    "ModuleDriver",
    "PollFrames",
    "Priority",
    "Reading",
    "TxConfig",
    "TxScheduler",
    "bit_names",
    "bus_config",
    "driver_timing",
    "is_transient",
    "milli",
    "stuffed_bits",
]


@hookimpl
def pecc_add_commands(app: Any) -> None:
    from pecc_plugins.canbus.command import can_app

    app.add_typer(can_app, name="can")


@hookimpl
def pecc_doctor_checks(profile: Profile, registry: Callable[[str], Registry]) -> list[Check]:
    from pecc_plugins.canbus.doctor import checks

    return checks(profile, registry)


@hookimpl
def pecc_check_profile(profile: Profile, registry: Callable[[str], Registry]) -> list[Finding]:
    from pecc_plugins.canbus.budget import check_profile

    return check_profile(profile, registry)
