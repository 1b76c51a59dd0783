"""A simulated station door on gpiozero mock pins: lock, contact, exit button and fire panel.

:class:`SimDoor` is the hardware side of ``edge.hardware.door.DoorHardware``: it drives
the input pins the driver reads (door contact, exit button, fire-alarm contact) and reads
the output pins the driver drives (lock relay, LEDs, buzzer), applying the lock's physics
itself, so a test checks the driver against an independent model of the wiring.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gpiozero.exc import PinFixedPull, PinInvalidPull
from gpiozero.pins.mock import MockPin

if TYPE_CHECKING:
    from collections.abc import Callable

    from edge.hardware.door import DoorPins
    from firmware_sim.beams import BeamPair

Direction = Literal["in", "out"]


class _WiredPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A mock input wired to a switch: what the switch does wins over the pull resistor.

    A plain MockPin snaps to its pull whenever a device opens it, which would make a door
    whose contact the simulator closed before the driver started read as open.
    """

    def __init__(self, factory: Any, info: Any) -> None:
        self._wired: bool | None = None
        super().__init__(factory, info)

    def wire(self, *, high: bool) -> None:
        self._wired = high
        if high:
            self.drive_high()
        else:
            self.drive_low()

    def _set_pull(self, value: str) -> None:
        if self._wired is None:
            super()._set_pull(value)
            return
        if self.function != "input":
            raise PinFixedPull(f"cannot set pull on non-input pin {self!r}")
        if value not in ("floating", "up", "down"):
            raise PinInvalidPull("pull must be floating, up, or down")
        self._pull = value


def _no_pause(_seconds: float) -> None:
    """Time-compressed: edges still arrive in order, just without gaps."""


@dataclass(frozen=True, slots=True)
class DoorGait:
    """Seconds between a walker's door and beam edges."""

    open_to_beams_s: float = 0.8
    beams_to_close_s: float = 2.5  # the door closer swinging it shut


class SimDoor:
    """One door, its lock and the people at it, behind gpiozero ``MockFactory`` pins.

    Inputs are switches to ground under the driver's pull-ups: a closed contact reads low.
    ``power_cut()`` cuts the *lock's* supply (the mains fails; the edge box, on its UPS or
    not, is beside the point for the lock): the relay drops out and the lock does what its
    type does — a ``fail_safe`` maglock lets go, a ``fail_secure`` strike stays locked —
    whatever the relay pin says, until ``power_restore()``. LEDs and buzzer read dark
    meanwhile. The door itself stays where it is: a cut does not open it, it only lets a
    person through (or not).
    """

    def __init__(
        self,
        pin_factory: Any,
        pins: DoorPins,
        *,
        beams: BeamPair | None = None,
        gait: DoorGait = DoorGait(),
    ) -> None:
        self._pins = pins
        self._beams = beams
        self._gait = gait
        self._lock = threading.RLock()
        self._relay = pin_factory.pin(pins.relay)
        self._green = pin_factory.pin(pins.green_led)
        self._red = pin_factory.pin(pins.red_led)
        self._buzzer = pin_factory.pin(pins.buzzer)
        self._contact = pin_factory.pin(pins.door_contact, pin_class=_WiredPin)
        self._exit = pin_factory.pin(pins.exit_button, pin_class=_WiredPin)
        self._fire: Any = None
        if pins.fire_alarm is not None:
            self._fire = pin_factory.pin(pins.fire_alarm, pin_class=_WiredPin)
        self._powered = True
        self._door_open = False
        self._fire_on = False
        self._set(self._contact, closed=True)
        self._set(self._exit, closed=False)
        self.fire_alarm(on=False)

    @staticmethod
    def _set(pin: Any, *, closed: bool) -> None:
        # A pin created before the driver opened it is a _WiredPin; one the driver made
        # first is a plain MockPin, which is already past its pull and can simply be driven.
        if isinstance(pin, _WiredPin):
            pin.wire(high=not closed)
        elif closed:
            pin.drive_low()
        else:
            pin.drive_high()

    @staticmethod
    def _driven(pin: Any) -> bool:
        return bool(pin.function == "output" and pin.state)

    # -- what the outputs are doing ------------------------------------------------------

    @property
    def relay_energised(self) -> bool:
        """The relay coil: pin at its active level (a pin not driven leaves it released)."""
        if not self._powered or self._relay.function != "output":
            return False
        return bool(self._relay.state) == self._pins.relay_active_high

    @property
    def relay_unlocked(self) -> bool:
        """Whether the lock is released now, from the relay and the lock's physics."""
        with self._lock:
            if not self._powered:
                return self._pins.power_loss == "fail_safe"
            energised = self.relay_energised
            return energised if self._pins.power_loss == "fail_secure" else not energised

    @property
    def led(self) -> str:
        """``green``, ``red``, ``amber`` (both) or ``off``."""
        if not self._powered:
            return "off"
        green, red = self._driven(self._green), self._driven(self._red)
        return {(True, True): "amber", (True, False): "green", (False, True): "red"}.get(
            (green, red), "off"
        )

    @property
    def buzzing(self) -> bool:
        return self._powered and self._driven(self._buzzer)

    @property
    def door_open(self) -> bool:
        with self._lock:
            return self._door_open

    # -- what people and the building do ---------------------------------------------------

    def open_door(self) -> bool:
        """Push the door open if the lock lets it; ``False`` (nothing happens) if locked."""
        with self._lock:
            if not self.relay_unlocked:
                return False
            self._swing(is_open=True)
            return True

    def close_door(self) -> None:
        with self._lock:
            self._swing(is_open=False)

    def person_walks_through(
        self, direction: Direction, *, pause: Callable[[float], None] = _no_pause
    ) -> bool:
        """Open the door if unlocked, cross the beams (if given), let the door shut.

        Returns ``False`` and changes nothing when the lock holds the door.
        """
        with self._lock:
            if not self._door_open and not self.open_door():
                return False
            pause(self._gait.open_to_beams_s)
            if self._beams is not None:
                if direction == "in":
                    self._beams.walk_in(pause=pause)
                else:
                    self._beams.walk_out(pause=pause)
            pause(self._gait.beams_to_close_s)
            self._swing(is_open=False)
            return True

    def hold_open(self) -> bool:
        """Open the door (if unlocked) and leave it open, say propped on a chair."""
        return self.open_door()

    def force_open(self) -> None:
        """Open the door whatever the lock says: a crowbar, or a maglock without power."""
        with self._lock:
            self._swing(is_open=True)

    def press_exit(self) -> None:
        """Press and release the exit button inside."""
        with self._lock:
            self._set(self._exit, closed=True)
            self._set(self._exit, closed=False)

    def fire_alarm(self, *, on: bool) -> None:
        """The fire panel's alarm contact (normally closed unless the pins say otherwise)."""
        if self._fire is None:
            if on:
                raise RuntimeError("this door has no fire-alarm input wired")
            return
        with self._lock:
            self._fire_on = on
            contact_closed = on != self._pins.fire_alarm_normally_closed
            self._set(self._fire, closed=contact_closed)

    def power_cut(self) -> None:
        with self._lock:
            self._powered = False

    def power_restore(self) -> None:
        with self._lock:
            self._powered = True

    def _swing(self, *, is_open: bool) -> None:
        if is_open != self._door_open:
            self._door_open = is_open
            self._set(self._contact, closed=not is_open)
