"""The door's LED and buzzer patterns, played on their own thread so the relay never waits."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.access.reasons import Led, Signal

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Step:
    """One stretch of a signal: the LED colour and whether the buzzer sounds."""

    led: Led
    buzzer: bool
    seconds: float


def signal_steps(signal: Signal, *, show_s: float) -> tuple[Step, ...]:
    """The beeps (on, off, on…) under the signal's colour, then the colour alone until show_s."""
    steps = [Step(signal.led, index % 2 == 0, s) for index, s in enumerate(signal.beeps)]
    remaining = show_s - sum(signal.beeps)
    if remaining > 0 or not steps:
        steps.append(Step(signal.led, False, max(remaining, 0.0)))
    return tuple(steps)


class SignalPlayer:
    """Plays signals on its own thread; a new signal cuts the one playing short.

    The first step is shown on the caller's thread, so the person sees the colour at once;
    ``sleeper`` (default: an interruptible wait) lets tests step through a pattern.
    """

    def __init__(
        self,
        green: Any,
        red: Any,
        buzzer: Any,
        *,
        show_s: float,
        sleeper: Callable[[float], object],
    ) -> None:
        self._green, self._red, self._buzzer = green, red, buzzer
        self._show_s = show_s
        self._cond = threading.Condition()
        self._wake = threading.Event()
        self._sleep = sleeper
        self._queued: tuple[int, tuple[Step, ...]] | None = None
        self._generation = 0
        self._busy = False
        self._rest: Led = "off"
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="door-signal", daemon=True)
        self._thread.start()

    def interruptible_wait(self, seconds: float) -> None:
        self._wake.wait(seconds)

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._busy

    def play(self, signal: Signal) -> None:
        steps = signal_steps(signal, show_s=self._show_s)
        with self._cond:
            if self._closed:
                return
            self._generation += 1
            self._show(steps[0])
            self._queued = (self._generation, steps)
            self._busy = True
            self._wake.set()
            self._cond.notify()

    def set_rest(self, led: Led) -> None:
        """The colour shown between signals (amber during an emergency)."""
        with self._cond:
            self._rest = led
            if not self._busy and not self._closed:
                self._show(Step(led, False, 0.0))

    def _show(self, step: Step) -> None:
        self._green.value = step.led in ("green", "amber")
        self._red.value = step.led in ("red", "amber")
        self._buzzer.value = step.buzzer

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._queued is None and not self._closed:
                    self._cond.wait()
                if self._queued is None:
                    return
                (generation, steps), self._queued = self._queued, None
                self._wake.clear()
            try:
                self._play(generation, steps)
            except Exception:
                logger.exception("door signal failed; the next signal starts afresh")

    def _play(self, generation: int, steps: tuple[Step, ...]) -> None:
        for index, step in enumerate(steps):
            with self._cond:
                if generation != self._generation or self._closed:
                    return
                if index:
                    self._show(step)
            self._sleep(step.seconds)
        with self._cond:
            if generation == self._generation and not self._closed:
                self._show(Step(self._rest, False, 0.0))
                self._busy = False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._wake.set()
            self._cond.notify()
        self._thread.join()
        self._show(Step("off", False, 0.0))
