"""A gun's contactors part on its own: the last command, the command in progress, the feedback.

No station and no gun: the part is given a gun id, the simulated
contactors and a readout, and checked through its read-only views, the
readout and the loop's clock.
"""

from __future__ import annotations

import asyncio

import pytest

from pecc_core.gun.contactors import Contactors
from pecc_core.io import ContactorError
from pecc_core.model import Contactors as Feedback
from pecc_core.model import Status
from pecc_plugins.simio import SimContactors


def part(io: SimContactors) -> tuple[Contactors, Status]:
    readout = Status()
    return Contactors("1-1", io, readout), readout


async def test_a_close_is_commanded_at_once_and_switching_until_the_feedback() -> None:
    io = SimContactors(closing_ms=30)
    contactors, readout = part(io)
    loop = asyncio.get_running_loop()
    start = loop.time()
    closing = asyncio.create_task(contactors.switch(True))
    await asyncio.sleep(0)
    assert contactors.commanded_closed and contactors.switching
    assert not contactors.closed  # commanded, not yet confirmed: no power
    assert readout.contactors is Feedback.OPEN  # the feedback is recorded once the command has ended
    await closing
    assert loop.time() - start == pytest.approx(0.030, abs=1e-9)  # the closing time
    assert contactors.commanded_closed and not contactors.switching and contactors.closed
    assert readout.contactors is Feedback.CLOSED


async def test_a_feedback_that_disagrees_raises_and_is_recorded() -> None:
    io = SimContactors(closing_ms=0, opening_ms=0, feedback_timeout_ms=40)
    contactors, readout = part(io)
    io.stick("1-1", False)  # a broken coil
    start = asyncio.get_running_loop().time()
    with pytest.raises(ContactorError, match="feedback says open"):
        await contactors.switch(True)
    assert asyncio.get_running_loop().time() - start == pytest.approx(0.040, abs=1e-9)  # the feedback timeout
    assert contactors.commanded_closed and not contactors.switching  # what was commanded stays
    assert not contactors.closed  # the feedback disagrees: no power
    assert readout.contactors is Feedback.OPEN


async def test_the_emergency_opening_is_commanded_before_its_task_runs() -> None:
    io = SimContactors(closing_ms=0, opening_ms=20)
    contactors, readout = part(io)
    await contactors.switch(True)
    start = asyncio.get_running_loop().time()
    opening = contactors.open_now()
    assert not contactors.commanded_closed and contactors.switching  # in this very step
    await opening
    assert asyncio.get_running_loop().time() - start == pytest.approx(0.020, abs=1e-9)  # the opening time
    assert not contactors.switching and readout.contactors is Feedback.OPEN


async def test_a_welded_contact_ends_the_emergency_opening_without_raising() -> None:
    """The fault check reports the mismatch; the opening task only records the feedback."""
    io = SimContactors(closing_ms=0, opening_ms=0, feedback_timeout_ms=10)
    contactors, readout = part(io)
    await contactors.switch(True)
    io.stick("1-1", True)  # welded
    await contactors.open_now()
    assert not contactors.commanded_closed and not contactors.switching
    assert not contactors.closed  # commanded open: no power, whatever the welded contact says
    assert readout.contactors is Feedback.CLOSED


def test_the_views_cannot_be_written() -> None:
    contactors, _ = part(SimContactors())
    with pytest.raises(AttributeError):
        contactors.commanded_closed = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        contactors.switching = True  # type: ignore[misc]
