"""Walk simulated people through a doorway's two IR beams on gpiozero mock pins."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


@dataclass(frozen=True, slots=True)
class Gait:
    """Seconds between beam edges for one walker (beams ~10 cm apart, ~1.2 m/s)."""

    to_second_beam_s: float = 0.08
    both_broken_s: float = 0.30
    to_clear_s: float = 0.08
    peek_s: float = 0.40


def _no_pause(_seconds: float) -> None:
    """Time-compressed walking: edges still arrive in order, just without gaps."""


class BeamPair:
    """The hardware side of a BeamCounter: beam receivers driving two MockFactory pins.

    A broken beam drives its pin to the *active* level (high by default, like an
    open-collector receiver with a pull-up). Walks are serialised: one doorway, one
    person in it at a time, whichever thread asks.
    """

    def __init__(
        self,
        pin_factory: Any,
        outside_pin: int,
        inside_pin: int,
        *,
        active_high: bool = True,
        gait: Gait = Gait(),
    ) -> None:
        self._outside = pin_factory.pin(outside_pin)
        self._inside = pin_factory.pin(inside_pin)
        self._active_high = active_high
        self._gait = gait
        self._lock = threading.Lock()

    def _set(self, pin: Any, *, broken: bool) -> None:
        if broken == self._active_high:
            pin.drive_high()
        else:
            pin.drive_low()

    def _cross(self, first: Any, second: Any, pause: Callable[[float], None]) -> None:
        g = self._gait
        with self._lock:
            self._set(first, broken=True)
            pause(g.to_second_beam_s)
            self._set(second, broken=True)
            pause(g.both_broken_s)
            self._set(first, broken=False)
            pause(g.to_clear_s)
            self._set(second, broken=False)

    def walk_in(self, *, pause: Callable[[float], None] = _no_pause) -> None:
        """Outside beam, then inside beam: an entry."""
        self._cross(self._outside, self._inside, pause)

    def walk_out(self, *, pause: Callable[[float], None] = _no_pause) -> None:
        """Inside beam, then outside beam: a departure."""
        self._cross(self._inside, self._outside, pause)

    def peek(self, *, pause: Callable[[float], None] = _no_pause) -> None:
        """Break the outside beam and step back without reaching the inside one."""
        with self._lock:
            self._set(self._outside, broken=True)
            pause(self._gait.peek_s)
            self._set(self._outside, broken=False)

    def reset(self) -> None:
        """Clear both beams (for example after a run was stopped mid-walk)."""
        with self._lock:
            self._set(self._outside, broken=False)
            self._set(self._inside, broken=False)
