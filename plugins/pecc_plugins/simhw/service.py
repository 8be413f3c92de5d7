"""Service ``simhw``: the PECC's side of the bench that is not I/O.

It forwards each gun's SECC target to the bench every control cycle (the
car model there follows it: in the field the car is simply there), and
passes module fault injections from the control API to the bench's
module simulator (:class:`pecc_core.power.InjectsModuleFaults`, which
the API looks for among the services).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from pecc_core.asyncutil import cancel
from pecc_core.model import Target
from pecc_core.power import Fault, ModuleId
from pecc_plugins.simhw.drivers import HwLink, LinkError

if TYPE_CHECKING:
    from pecc_core.station import Station


class BenchLink:
    """Started with the station's services; ``params`` are :class:`~.drivers.LinkParams`."""

    def __init__(self, params: dict[str, Any], station: Station) -> None:
        self.station = station
        self.link = HwLink.shared(params.get("channel", "pecc-sim-split"))
        self._sent: dict[str, Target | None] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.link.start()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="sim-hw-car")

    async def stop(self) -> None:
        await cancel(self._task)
        await self.link.stop()

    async def _run(self) -> None:
        period = self.station.cycle
        while True:
            await asyncio.sleep(period)
            if not self.link.connected:
                self._sent.clear()  # a new bench connection gets every target again
                continue
            cars = []
            for gun_id, gun in self.station.guns.items():
                target = gun.target
                if gun_id in self._sent and self._sent[gun_id] == target:
                    continue
                self._sent[gun_id] = target
                body = None if target is None else [target.voltage, target.current, target.soc, target.phase.value]
                cars.append({"op": "car", "gun": gun_id, "target": body})
            if cars:
                with contextlib.suppress(LinkError):
                    self.link.send(*cars)

    # -- fault injection, as the in-process module simulator offers it ------------------

    def simulates(self, module: ModuleId) -> bool:
        """The bench simulates every module of the profile."""
        return module in self.station.power.modules

    def silence(self, module: ModuleId, silent: bool = True) -> None:
        self.link.send({"op": "inject", "what": "silence", "module": str(module), "silent": silent})

    def inject(self, module: ModuleId, bit: int, active: bool = True) -> None:
        self.link.send({"op": "inject", "what": "bit", "module": str(module), "bit": bit, "active": active})

    def fault(self, module: ModuleId, fault: Fault, active: bool = True) -> None:
        self.link.send({"op": "inject", "what": "fault", "module": str(module), "fault": fault.value, "active": active})

    def clear(self, module: ModuleId) -> None:
        self.link.send({"op": "inject", "what": "clear", "module": str(module)})
