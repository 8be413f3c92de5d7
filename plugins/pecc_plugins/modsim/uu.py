"""Simulated UUGreenPower modules: answer UU frames like a UR1000x0 would.

Requests to the module's address (or to broadcast address 0, which gets
no reply) in the simulator's group are obeyed; each reply carries the
module's production-date and serial bits in the low 14 identifier bits,
so a driver that matched replies by exact identifier would fail here as
it would on a real cabinet. Sets are answered with a set-response.

Ranges: a module powers on in the low range (up to ``low_range_max_v``, the
full current), the high range reaches the module's maximum voltage with
``high_range_current_share`` of the current; the power is the same in
both (constant current, then constant power). Selection 3 lets the module
pick its range from its voltage setpoint while its output is off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pecc_core.power import Fault
from pecc_plugins.modsim import wire
from pecc_plugins.modsim.physics import ModuleOutput

if TYPE_CHECKING:
    from pecc_plugins.modsim.responder import SimModule, Simulator

#: Which status bit reports each fault kind (for injection by fault name).
_BIT_OF: dict[Fault, int] = {
    Fault.INPUT: 0,
    Fault.OVER_VOLTAGE: 6,
    Fault.UNDER_VOLTAGE: 8,
    Fault.VENDOR_WARNING: 9,
    Fault.OVER_TEMPERATURE: 12,
    Fault.HARDWARE: 21,
    Fault.VENDOR_ERROR: 29,
}
#: Kinds of status bits that stop the power stage.
STOPPING = frozenset({"input", "hardware", "over_voltage", "over_temperature", "configuration"})


class UuResponder:
    """The UU side of :class:`~.service.ModSim`: frames in, state changes and replies out."""

    protocol = "uugreen"

    def __init__(self, sim: Simulator, group: int) -> None:
        self.sim = sim
        self.group = group
        #: per module: the selection (cmd 95) and the range it really runs in (cmd 101)
        self.selection: dict[int, int] = {}
        self.ranges: dict[int, int] = {}
        self.ids: dict[int, tuple[int, int]] = {}
        #: range changes commanded while a module's output was running
        self.unsafe_mode_switches = 0
        #: range changes per module
        self.mode_switches: dict[int, int] = {}
        for address, module in sim.modules.items():
            self.ids[address] = (address * 7 % 31 + 1, address * 37 % 511 + 1)
            self.selection[address] = wire.UU_LOW
            self.mode_switches[address] = 0
            self._set_range(module.output, wire.UU_LOW)

    def bit_for(self, fault: Fault) -> int:
        try:
            return _BIT_OF[fault]
        except KeyError:
            raise ValueError(f"a UU module has no status bit for {fault}") from None

    def stops(self, bits: int) -> bool:
        return any(bits >> bit & 1 and kind in STOPPING for bit, (_, kind) in wire.UU_STATUS_BITS.items())

    def handle(self, arbitration_id: int, data: bytes | bytearray) -> None:
        request = wire.uu_parse(arbitration_id, data)
        if request is None or request.group != self.group:
            return
        if request.address == 0:
            for listener in self.sim.listening():
                self._obey(listener, request)
            return
        module = self.sim.reachable(request.address)
        if module is None:
            return
        value = self._obey(module, request)
        kind = wire.UU_READ_REPLY if request.kind == wire.UU_READ else wire.UU_SET_REPLY
        date, serial = self.ids[request.address]
        self.sim.reply(module, *wire.uu_reply(request.address, date, serial, self.group, kind, request.cmd, value))

    def _obey(self, module: SimModule, request: wire.UuRequest) -> int:
        """Apply a set, or read a value; returns the value of the reply."""
        if request.kind == wire.UU_READ:
            return self._read(module, request.cmd)
        out, cmd, value = module.output, request.cmd, request.value
        if cmd == wire.UU_VREF:
            out.voltage_setpoint = value / 1000
        elif cmd == wire.UU_ILIMIT:
            out.current_setpoint = value / 1000
        elif cmd == wire.UU_SHUTDOWN:
            if value == 0 and not out.on and self.selection[out.address] == wire.UU_AUTO:
                self._auto(out)
            out.on = value == 0
        elif cmd == wire.UU_MODE_SET and value in (wire.UU_HIGH, wire.UU_LOW, wire.UU_AUTO):
            self.selection[out.address] = value
            if value == wire.UU_AUTO:
                self._auto(out)
            elif value != self.ranges[out.address]:
                if out.on and out.current > 1.0:
                    self.unsafe_mode_switches += 1
                self._set_range(out, value)
        return value

    def _auto(self, out: ModuleOutput) -> None:
        """Selection 3: the module picks the range its voltage setpoint needs."""
        wanted = wire.UU_HIGH if out.voltage_setpoint > self.sim.settings.low_range_max_v else wire.UU_LOW
        if wanted != self.ranges[out.address]:
            self._set_range(out, wanted)

    def _read(self, module: SimModule, cmd: int) -> int:
        out = module.output
        if cmd in (wire.UU_VOUT, wire.UU_VOUT_FAST):
            return round(out.voltage * 1000)
        if cmd in (wire.UU_IOUT_SLOW, wire.UU_IOUT_FAST, wire.UU_IOUT_FASTEST):
            return round(out.current * 1000)
        if cmd == wire.UU_TEMPERATURE:
            return round(out.temperature * 1000) & 0xFFFFFFFF
        if cmd == wire.UU_STATUS:
            word = module.alarm_bits
            config = self.sim.plant.config
            if out.overheated(config):
                word |= 1 << wire.UU_OVER_TEMPERATURE_BIT
            if not out.running(config):
                word |= 1 << wire.UU_DCDC_OFF_BIT
            return word
        if cmd == wire.UU_MODE_STATUS:
            return self.selection[out.address]
        if cmd == wire.UU_ACTUAL_RANGE:
            return self.ranges[out.address]
        if cmd == wire.UU_CAPABILITY:
            return round(min(out.current_max, out.range_current_max) * 1000)
        if cmd == wire.UU_GROUP:
            return self.group
        return 0

    def _set_range(self, out: ModuleOutput, mode: int) -> None:
        settings = self.sim.settings
        if out.address in self.ranges:
            self.mode_switches[out.address] += 1
        self.ranges[out.address] = mode
        if mode == wire.UU_LOW:
            out.range_max, out.range_current_max = settings.low_range_max_v, out.current_max
        else:
            out.range_max = out.voltage_max
            out.range_current_max = out.current_max * settings.high_range_current_share
