"""Drive a kiosk's slot motors and read the IR beam across its delivery chute (gpiozero).

One ``OutputDevice`` per slot switches that spiral's motor; a ``DigitalInputDevice`` on
the chute beam sees an item fall. ``dispense`` runs one motor until the beam's edge
arrives or the timeout passes — it waits on the edge, never polls. The pin factory is
injected: the Pi's header pins in production, gpiozero's ``MockFactory`` with
``firmware_sim.kiosk.SimKiosk`` behind it in simulation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from gpiozero import DigitalInputDevice, GPIOZeroError, OutputDevice

from edge.hardware.interfaces import HardwareError
from edge.kiosk.settings import KioskPins

logger = logging.getLogger(__name__)

# Waits for an event up to a timeout; True if it was set. Injected so tests never sleep.
Waiter = Callable[[threading.Event, float], bool]


class KioskHardwareError(HardwareError):
    """A kiosk pin could not be opened, or a slot does not exist."""


class DispenseResult(StrEnum):
    DISPENSED = "dispensed"  # the beam saw an item fall
    JAMMED = "jammed"  # no item within the timeout: jammed spiral or empty slot


def _wait(event: threading.Event, timeout_s: float) -> bool:
    return event.wait(timeout_s)


class KioskHardware:
    """The slot motors and the drop sensor of one kiosk; one dispense at a time."""

    def __init__(self, pins: KioskPins, *, pin_factory: Any = None, wait: Waiter = _wait) -> None:
        self.pins = pins
        self._wait = wait
        self._lock = threading.Lock()  # one motor at a time: the chute sees one item
        self._dropped = threading.Event()
        self._devices: list[Any] = []
        self._motors: dict[str, OutputDevice] = {}
        try:
            for slot, pin in pins.motors.items():
                self._motors[slot] = self._open(
                    OutputDevice, pin, pin_factory,
                    active_high=pins.motor_active_high, initial_value=False,
                )  # fmt: skip
            self._beam = self._open(
                DigitalInputDevice, pins.drop_sensor, pin_factory,
                pull_up=None, active_state=pins.drop_active_high,
            )  # fmt: skip
        except GPIOZeroError as exc:
            self.close()
            raise KioskHardwareError(
                f"kiosk could not open its GPIO pins ({exc}); check [kiosk.pins] and that no "
                "other process holds them"
            ) from exc
        self._beam.when_activated = self._dropped.set
        if self._beam.is_active:
            logger.warning("the chute beam is broken at start-up; check the chute for an item")

    def _open(self, device_class: Any, pin: int, factory: Any, **options: Any) -> Any:
        device = device_class(pin, pin_factory=factory, **options)
        self._devices.append(device)
        return device

    @property
    def slots(self) -> tuple[str, ...]:
        return tuple(self._motors)

    def dispense(self, slot: str, timeout_s: float) -> DispenseResult:
        """Run ``slot``'s motor until an item breaks the chute beam, or ``timeout_s``."""
        motor = self._motors.get(slot)
        if motor is None:
            raise KioskHardwareError(f"this kiosk has no slot {slot!r}; slots: {self.slots}")
        with self._lock:
            self._dropped.clear()
            try:
                motor.on()
                seen = self._wait(self._dropped, timeout_s)
            finally:
                motor.off()  # whatever happened, never leave a spiral turning
        return DispenseResult.DISPENSED if seen else DispenseResult.JAMMED

    def stop_all(self) -> None:
        for motor in self._motors.values():
            motor.off()

    def close(self) -> None:
        for device in reversed(self._devices):
            try:
                device.close()
            except GPIOZeroError:
                logger.exception("closing a kiosk pin failed")
        self._devices.clear()
