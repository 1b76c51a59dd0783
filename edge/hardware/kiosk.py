"""Drive a kiosk's slot motors and read the IR beam across its delivery chute (gpiozero).

One ``OutputDevice`` per slot switches that spiral's motor; a ``DigitalInputDevice`` on
the chute beam sees an item fall. ``dispense`` runs one motor until the beam's edge
arrives or the timeout passes — it waits on the edge, never polls. The pin factory is
injected: the Pi's header pins in production, gpiozero's ``MockFactory`` with
``firmware_sim.kiosk.SimKiosk`` behind it in simulation.

The beam's edge is the only evidence an item fell, and this process's memory does not
survive a power cut. So the edge first calls ``on_drop`` (the runtime wires it to
:meth:`edge.kiosk.journal.Journal.record_drop`, a ``synchronous=FULL`` write) and only
then wakes ``dispense``: a cut after the item fell finds the drop on disk, and recovery
charges for it instead of refunding it. Edges outside a dispense record nothing (a hand in
the chute is not an item), and ``dispense`` disarms under the same lock the edge records
under, so the driver's answer and the journal never disagree about a late edge.
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
# Makes an item's fall durable before the driver reports it (Journal.record_drop).
DropRecorder = Callable[[], object]


class KioskHardwareError(HardwareError):
    """A kiosk pin could not be opened, or a slot does not exist."""


class DispenseResult(StrEnum):
    DISPENSED = "dispensed"  # the beam saw an item fall
    JAMMED = "jammed"  # no item within the timeout: jammed spiral or empty slot


def _wait(event: threading.Event, timeout_s: float) -> bool:
    return event.wait(timeout_s)


class KioskHardware:
    """The slot motors and the drop sensor of one kiosk; one dispense at a time."""

    def __init__(
        self,
        pins: KioskPins,
        *,
        pin_factory: Any = None,
        wait: Waiter = _wait,
        on_drop: DropRecorder | None = None,
    ) -> None:
        self.pins = pins
        self._wait, self._on_drop = wait, on_drop
        self._lock = threading.Lock()  # one motor at a time: the chute sees one item
        self._dropped = threading.Event()
        self._edge_lock = threading.Lock()  # an edge records, or dispense disarms, not both
        self._armed = False  # a motor is running: an edge now is that motor's item
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
        self._beam.when_activated = self._edge
        if self._beam.is_active:
            logger.warning("the chute beam is broken at start-up; check the chute for an item")

    def _open(self, device_class: Any, pin: int, factory: Any, **options: Any) -> Any:
        device = device_class(pin, pin_factory=factory, **options)
        self._devices.append(device)
        return device

    def _edge(self) -> None:
        with self._edge_lock:
            if not self._armed:
                return
            if self._on_drop is not None:
                try:
                    self._on_drop()
                except Exception:  # a GPIO callback: the item fell whatever the disk says
                    logger.exception("could not record an item's drop in the kiosk journal")
            self._dropped.set()

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
            with self._edge_lock:
                self._armed = True
            try:
                motor.on()
                self._wait(self._dropped, timeout_s)
            finally:
                motor.off()  # whatever happened, never leave a spiral turning
                with self._edge_lock:
                    self._armed = False
            # Read after disarming: an edge that beat the disarm was recorded, so it counts.
            seen = self._dropped.is_set()
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
