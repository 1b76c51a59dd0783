"""A simulated points kiosk on gpiozero mock pins: slot spirals, a chute beam, a jam rate.

:class:`SimKiosk` is the hardware side of ``edge.hardware.kiosk.KioskHardware``: it watches
the motor pins the driver switches and, when a spiral turns, lets an item fall through the
chute beam (breaking and clearing the drop pin) — unless the slot is empty or the spiral
jams, which happens at ``jam_rate`` from a seeded RNG. :class:`Touch` is a finger on the
kiosk screen: a direct call, or a POST to the screen's page server.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from gpiozero.pins.mock import MockPin

if TYPE_CHECKING:
    from edge.kiosk.settings import KioskPins


class _MotorPin(MockPin):  # type: ignore[misc]  # gpiozero is untyped
    """A mock output that tells the simulator when its level changes."""

    def __init__(self, factory: Any, info: Any) -> None:
        self.on_change: Callable[[bool], None] | None = None
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed = bool(super()._change_state(value))
        if changed and self.on_change is not None and self.function == "output":
            self.on_change(value)
        return changed


@dataclass(slots=True)
class SimKioskStats:
    turns: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    jammed: int = 0
    empty: int = 0


class SimKiosk:
    """Slots with stock behind mock motor pins, and the chute beam the items fall through.

    Create it before the driver: it claims the motor pins with a class that reports their
    changes. An item falls at once when its motor turns on (time-compressed: the driver
    only cares that the beam's edge comes while the motor runs).
    """

    def __init__(
        self,
        pin_factory: Any,
        pins: KioskPins,
        *,
        rng: random.Random,
        jam_rate: float = 0.0,
        stock: Mapping[str, int] | None = None,
    ) -> None:
        if not 0.0 <= jam_rate <= 1.0:
            raise ValueError(f"jam_rate must be between 0 and 1, not {jam_rate}")
        self._pins, self._rng, self.jam_rate = pins, rng, jam_rate
        self._lock = threading.RLock()
        self.stock = {slot: (stock or {}).get(slot, 10) for slot in pins.motors}
        self._jam_next: set[str] = set()
        self.stats = SimKioskStats()
        self._drop = pin_factory.pin(pins.drop_sensor)
        self._set_beam(broken=False)
        for slot, number in pins.motors.items():
            pin = pin_factory.pin(number, pin_class=_MotorPin)
            if not isinstance(pin, _MotorPin):
                raise TypeError(f"slot {slot} pin {number} was opened before the simulator")
            pin.on_change = self._motor_handler(slot)

    def _motor_handler(self, slot: str) -> Callable[[bool], None]:
        def changed(level: bool) -> None:
            if level == self._pins.motor_active_high:
                self._turn(slot)

        return changed

    def _set_beam(self, *, broken: bool) -> None:
        if broken == self._pins.drop_active_high:
            self._drop.drive_high()
        else:
            self._drop.drive_low()

    def _turn(self, slot: str) -> None:
        with self._lock:
            self.stats.turns += 1
            if self.stock[slot] <= 0:
                self.stats.empty += 1
                return
            if slot in self._jam_next or self._rng.random() < self.jam_rate:
                self._jam_next.discard(slot)
                self.stats.jammed += 1
                return
            self.stock[slot] -= 1
            self.stats.dropped[slot] = self.stats.dropped.get(slot, 0) + 1
            self._set_beam(broken=True)
            self._set_beam(broken=False)

    def jam_next(self, slot: str) -> None:
        """The next turn of ``slot`` jams, whatever the jam rate says."""
        with self._lock:
            self._jam_next.add(slot)


class Touch:
    """A member's finger on the screen: through the page server, or straight to ``select``."""

    def __init__(
        self, *, url: str | None = None, select: Callable[[str], object] | None = None
    ) -> None:
        if (url is None) == (select is None):
            raise ValueError("a Touch needs exactly one of url (the page server) or select")
        self._url, self._select = url, select

    def press(self, slot: str) -> object:
        """Touch ``slot``'s button: the page server's JSON answer, or what ``select`` returned."""
        if self._select is not None:
            return self._select(slot)
        with httpx.Client(timeout=30.0) as http:
            response = http.post(f"{self._url}/select", json={"slot": slot})
            response.raise_for_status()
            body: object = response.json()
            return body
