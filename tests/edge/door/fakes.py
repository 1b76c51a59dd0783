"""Test doubles for the door: a clock and scheduler the test moves by hand, and pin maps."""

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from edge.hardware.door import DoorPins

# Away from the beam pins (17, 27) the rig uses, as on a real station box.
PINS = DoorPins(
    relay=5,
    green_led=6,
    red_led=13,
    buzzer=19,
    door_contact=26,
    exit_button=20,
    fire_alarm=21,
)


@dataclass
class _Timer:
    due: datetime
    callback: Callable[[], None]
    cancelled: bool = field(default=False)

    def cancel(self) -> None:
        self.cancelled = True


class FakeTime:
    """Clock plus scheduler: timers run on the test's thread inside :meth:`advance`."""

    def __init__(self, start: datetime = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)) -> None:
        self._now = start
        self._timers: list[_Timer] = []
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _Timer:
        with self._lock:
            timer = _Timer(self._now + timedelta(seconds=delay_s), callback)
            self._timers.append(timer)
            return timer

    def advance(self, seconds: float) -> datetime:
        """Move time on, running each timer that falls due at its own moment."""
        with self._lock:
            target = self._now + timedelta(seconds=seconds)
        while True:
            with self._lock:
                due = [t for t in self._timers if not t.cancelled and t.due <= target]
                if not due:
                    self._now = target
                    return target
                timer = min(due, key=lambda t: t.due)
                self._timers.remove(timer)
                self._now = max(self._now, timer.due)
            timer.callback()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(not t.cancelled for t in self._timers)


class GatedSleeper:
    """A signal player sleeper that records what was shown and waits for the test."""

    def __init__(self, read_state: Callable[[], tuple[str, bool]]) -> None:
        self._read = read_state
        self._gate = threading.Event()
        self.shown: list[tuple[str, bool, float]] = []

    def __call__(self, seconds: float) -> None:
        led, buzzing = self._read()
        self.shown.append((led, buzzing, seconds))
        self._gate.wait(timeout=10)

    def open(self) -> None:
        self._gate.set()
