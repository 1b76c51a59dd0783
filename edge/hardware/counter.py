"""Count people through a doorway from the order two IR break-beams are broken in."""

from __future__ import annotations

import logging
import threading
from enum import Enum
from typing import TYPE_CHECKING, Any

from gpiozero import DigitalInputDevice, GPIOZeroError

from edge.hardware.interfaces import Crossings, HardwareError

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)


class Beam(Enum):
    """Which side of the doorway a beam sits on."""

    OUTSIDE = "A"
    INSIDE = "B"


class CrossingTracker:
    """Pure state machine: beam edges in, crossings out.

    A passage starts when the first beam breaks while both are clear (its *origin*) and
    ends when both are clear again (its *exit* is the beam that cleared last). Origin A and
    exit B is an entry, B then A a departure; origin == exit means the person backed out,
    including someone who reached the second beam and stepped back. This relies on the beams
    being mounted closer together than a body is deep, so a walker always covers both at once.
    """

    __slots__ = ("_broken", "_entered", "_left", "_origin")

    def __init__(self) -> None:
        self._broken: set[Beam] = set()
        self._origin: Beam | None = None
        self._entered = 0
        self._left = 0

    def broken(self, beam: Beam) -> None:
        if not self._broken:
            self._origin = beam
        self._broken.add(beam)

    def cleared(self, beam: Beam) -> None:
        if beam not in self._broken:
            # A clear edge without its break (the driver started mid-passage): ignore it
            # rather than invent a direction.
            return
        self._broken.discard(beam)
        if self._broken:
            return
        origin, self._origin = self._origin, None
        if origin is Beam.OUTSIDE and beam is Beam.INSIDE:
            self._entered += 1
        elif origin is Beam.INSIDE and beam is Beam.OUTSIDE:
            self._left += 1

    def take(self) -> Crossings:
        crossings = Crossings(entered=self._entered, left=self._left)
        self._entered = 0
        self._left = 0
        return crossings


class BeamCounter:
    """A PeopleCounter on two gpiozero inputs; a beam reads *active* while it is broken.

    ``active_high`` matches the common open-collector receivers with an external pull-up
    (output high while the beam is broken), so no internal pull is applied.
    """

    def __init__(
        self,
        outside_pin: int | str,
        inside_pin: int | str,
        *,
        pin_factory: Any = None,
        active_high: bool = True,
        bounce_time: float | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._tracker = CrossingTracker()
        self._devices: list[DigitalInputDevice] = []
        try:
            for pin, beam in ((outside_pin, Beam.OUTSIDE), (inside_pin, Beam.INSIDE)):
                self._devices.append(self._open(pin, beam, pin_factory, active_high, bounce_time))
        except GPIOZeroError as exc:
            self.close()
            raise HardwareError(
                f"beam counter could not open GPIO pins {outside_pin}/{inside_pin}: {exc}; "
                "check the pin numbers and that no other process holds them"
            ) from exc

    def _open(
        self,
        pin: int | str,
        beam: Beam,
        pin_factory: Any,
        active_high: bool,
        bounce_time: float | None,
    ) -> DigitalInputDevice:
        device = DigitalInputDevice(
            pin,
            pull_up=None,
            active_state=active_high,
            bounce_time=bounce_time,
            pin_factory=pin_factory,
        )
        device.when_activated = self._handler(beam, broken=True)
        device.when_deactivated = self._handler(beam, broken=False)
        if device.is_active:
            # Already broken at start-up: record it so its clear edge is not mistaken later.
            logger.warning("beam %s is broken at start-up; check for an obstruction", beam.value)
            self._edge(beam, broken=True)
        return device

    def _handler(self, beam: Beam, *, broken: bool) -> Callable[[], None]:
        def on_edge() -> None:
            self._edge(beam, broken=broken)

        return on_edge

    def _edge(self, beam: Beam, *, broken: bool) -> None:
        # gpiozero delivers edges on its own callback threads, one per pin on real hardware.
        with self._lock:
            if broken:
                self._tracker.broken(beam)
            else:
                self._tracker.cleared(beam)

    def take(self) -> Crossings:
        with self._lock:
            return self._tracker.take()

    def close(self) -> None:
        for device in self._devices:
            device.close()
        self._devices.clear()
