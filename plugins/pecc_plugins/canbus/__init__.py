"""Shared python-can plumbing for CAN drivers and simulators.

Not a plugin with hooks of its own: a library the CAN plugins import.

- :mod:`.link`: :class:`CanLink`, one self-healing bus on the asyncio loop;
- :mod:`.moduledriver`: :class:`ModuleDriver`, the vendor-neutral part of a
  power-module driver (polling, offline/recovery, current split, wait_off);
- :mod:`.params`: the marshmallow fields every CAN plugin shares;
- :mod:`.load`: bus time of frames, for bus-load figures;
- :mod:`.episode`, :mod:`.tasks`: failure logging per episode, task cancelling.
"""
