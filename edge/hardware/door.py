"""Drive a station door's lock, LEDs and buzzer and read its contact, exit button and fire alarm.

Real gpiozero devices on an injectable pin factory: on a Raspberry Pi the default factory
drives the header pins; in simulation ``firmware_sim.door.SimDoor`` plays the door behind
gpiozero's ``MockFactory`` pins, and this code cannot tell the difference.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime
from functools import partial
from typing import Any, Literal, Protocol

from gpiozero import LED, Buzzer, DigitalInputDevice, OutputDevice
from gpiozero.exc import BadPinFactory, GPIOPinInUse, GPIOZeroError, PinInvalidPin

from edge.access.reasons import SIGNALS, Reason
from edge.clock import Clock
from edge.door.signals import SignalPlayer
from edge.hardware.door_safety import (
    DEFAULT_EXIT_UNLOCK_S,
    DoorSafety,
    LockOutput,
    PowerLoss,
    Relock,
    check_opens,
    check_unlock_s,
    relay_energised,
)
from edge.hardware.interfaces import HardwareError

logger = logging.getLogger(__name__)

EmergencySource = Literal["fire_alarm", "command"]

# How long the outcome colour stays lit: long enough to read after the beeps end.
DEFAULT_SHOW_S = 2.0


class DoorHardwareError(HardwareError):
    """A door pin could not be opened or driven; the message says which and what to check."""


@dataclass(frozen=True, slots=True)
class DoorPins:
    """Which BCM GPIO pins the door is wired to, and how the lock behaves.

    Inputs are switches to ground read with the Pi's internal pull-ups: the door contact
    (a reed switch) is *closed* while the door is shut, the exit button is normally open,
    and the fire-alarm input is a volt-free contact from the fire panel — normally closed
    by default, so a cut wire also reads as an alarm and the door fails open.

    How the relay maps to the lock (``relay_active_high`` says which pin level
    energises the relay coil; many opto-isolated relay boards are active-low):

    ============  =======================================  ================  ==============
    power_loss    lock                                     relay energised   power lost
    ============  =======================================  ================  ==============
    fail_secure   power-to-unlock (fail-secure strike,      unlocked          stays locked
                  motor lock)
    fail_safe     power-to-lock (maglock, fail-safe         locked            opens
                  strike)
    ============  =======================================  ================  ==============

    So with ``fail_safe`` the relay logic is inverted: the relay is energised to *hold* the
    door, and released to open it. When the box or the lock supply loses power, the relay
    drops out and the lock does what its physics say: a maglock lets go (the door opens, as
    fire codes want for an escape route), a fail-secure strike stays locked (egress then
    relies on the mechanical handle inside).
    """

    relay: int
    green_led: int
    red_led: int
    buzzer: int
    door_contact: int
    exit_button: int
    fire_alarm: int | None = None  # None: no fire panel wired to this door
    relay_active_high: bool = True
    power_loss: PowerLoss = "fail_secure"
    fire_alarm_normally_closed: bool = True
    # None on mock pins (edges come exactly once); ~0.05 s for real reed switches and buttons.
    debounce_s: float | None = None

    def __post_init__(self) -> None:
        if self.power_loss not in ("fail_safe", "fail_secure"):
            raise ValueError(
                f"power_loss must be 'fail_safe' (maglock) or 'fail_secure' (strike), "
                f"not {self.power_loss!r}"
            )
        if self.debounce_s is not None and not 0 <= self.debounce_s <= 1:
            raise ValueError(f"debounce_s must be between 0 and 1 s, not {self.debounce_s}")
        seen: dict[int, str] = {}
        for role, pin in self.roles().items():
            if pin in seen:
                raise ValueError(f"door {role} and {seen[pin]} are both set to GPIO{pin}")
            seen[pin] = role

    def roles(self) -> dict[str, int]:
        """Each wired pin by its role, for messages and duplicate checks."""
        names = ("relay", "green_led", "red_led", "buzzer", "door_contact", "exit_button")
        wired = {f.name: getattr(self, f.name) for f in fields(self) if f.name in names}
        if self.fire_alarm is not None:
            wired["fire_alarm"] = self.fire_alarm
        return wired

    def relay_energised(self, *, unlocked: bool) -> bool:
        """Whether the relay coil must be energised for the lock to be (un)locked."""
        return relay_energised(self.power_loss, unlocked=unlocked)


@dataclass(frozen=True, slots=True)
class DoorState:
    door_open: bool
    unlocked: bool
    emergency: bool


class DoorObserver(Protocol):
    """Told about every change, in order, stamped with the hardware's clock.

    Called with the hardware's lock held: record and return, never block.
    """

    def started(self, state: DoorState, at: datetime) -> None: ...

    def door_changed(self, *, is_open: bool, at: datetime) -> None: ...

    def lock_changed(self, *, unlocked: bool, at: datetime) -> None: ...

    def exit_pressed(self, at: datetime) -> None: ...

    def emergency_changed(self, *, active: bool, source: EmergencySource, at: datetime) -> None: ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """Runs a callback once after a delay, on some other thread."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable: ...


class ThreadScheduler:
    """One daemon ``threading.Timer`` per call: relocks need no event loop."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Cancellable:
        timer = threading.Timer(delay_s, callback)
        timer.name = "door-relock"
        timer.daemon = True
        timer.start()
        return timer


def _pin_error(role: str, pin: int, exc: GPIOZeroError) -> DoorHardwareError:
    if isinstance(exc, BadPinFactory):
        hint = "no GPIO library answered; on a Pi install lgpio, elsewhere run the simulator"
    elif isinstance(exc, GPIOPinInUse):
        hint = (
            "another device or process already uses it; check the door pins against the "
            "beam pins and that no second agent is running"
        )
    elif isinstance(exc, PinInvalidPin):
        hint = "it is not a GPIO of this board; use BCM numbers (GPIO0-GPIO27 on a Pi header)"
    else:
        hint = "check the wiring, the pin number and that this user may use GPIO (gpio group)"
    return DoorHardwareError(f"door {role} on GPIO{pin} could not be opened ({exc}): {hint}")


class DoorHardware:
    """The door's real drivers: lock relay, LEDs, buzzer, contact, exit button, fire alarm.

    Safety behaviour that must not depend on the agent lives here, its rules in
    :class:`~edge.hardware.door_safety.DoorSafety`: the exit button unlocks for
    ``exit_unlock_s`` (``None`` leaves it to the agent), and an active fire alarm holds the
    lock open and shows the emergency signal until the alarm clears. This class drives the
    pins and relock timers from those rules; ``on_exit_button`` and ``on_fire_alarm`` then
    tell the agent, for logging. ``close()`` releases the relay, leaving the lock as a power
    cut would.
    """

    def __init__(
        self,
        pins: DoorPins,
        *,
        clock: Clock,
        pin_factory: Any = None,
        scheduler: Scheduler | None = None,
        exit_unlock_s: float | None = DEFAULT_EXIT_UNLOCK_S,
        show_s: float = DEFAULT_SHOW_S,
        sleeper: Callable[[float], object] | None = None,
    ) -> None:
        self.pins = pins
        self.on_exit_button: Callable[[], None] | None = None
        self.on_fire_alarm: Callable[[bool], None] | None = None
        self._clock = clock
        self._scheduler = scheduler or ThreadScheduler()
        self._lock = threading.RLock()
        self._observers: list[DoorObserver] = []
        self._safety = DoorSafety(power_loss=pins.power_loss, exit_unlock_s=exit_unlock_s)
        self._driven: LockOutput = self._safety.output()  # what the pins show now
        self._pulse_timer: Cancellable | None = None
        self._closed = False
        self._devices: list[Any] = []
        try:
            self._open_devices(pin_factory)
        except DoorHardwareError:
            self._close_devices()
            raise
        self._player = SignalPlayer(
            self._green,
            self._red,
            self._buzzer,
            show_s=show_s,
            sleeper=sleeper or self._wait_for_player,
        )
        self._wire_callbacks()
        if self._safety.fire_alarm_active:
            logger.warning("fire alarm input is active at start-up; the door stays unlocked")
            with self._lock:
                self._apply(self._clock(), emergency_source="fire_alarm")

    def _wait_for_player(self, seconds: float) -> None:
        self._player.interruptible_wait(seconds)

    def _open(self, role: str, device_class: Any, factory: Any, **options: Any) -> Any:
        pin = getattr(self.pins, role)
        try:
            device = device_class(pin, pin_factory=factory, **options)
        except GPIOZeroError as exc:
            raise _pin_error(role, pin, exc) from exc
        self._devices.append(device)
        return device

    def _open_devices(self, factory: Any) -> None:
        p = self.pins
        self._relay = self._open(
            "relay",
            OutputDevice,
            factory,
            active_high=p.relay_active_high,
            initial_value=p.relay_energised(unlocked=False),
        )
        self._green = self._open("green_led", LED, factory)
        self._red = self._open("red_led", LED, factory)
        self._buzzer = self._open("buzzer", Buzzer, factory)
        # pull_up=True: an input reads *active* while its switch connects it to ground.
        switch = {"pull_up": True, "bounce_time": p.debounce_s}
        self._contact = self._open("door_contact", DigitalInputDevice, factory, **switch)
        self._exit = self._open("exit_button", DigitalInputDevice, factory, **switch)
        self._fire_input: Any = None
        if p.fire_alarm is not None:
            self._fire_input = self._open("fire_alarm", DigitalInputDevice, factory, **switch)
            self._safety.fire_alarm(
                active=self._fire_input.is_active != p.fire_alarm_normally_closed
            )

    def _wire_callbacks(self) -> None:
        # gpiozero inspects handlers' signatures (a partial confuses it): plain closures.
        def contact_closed() -> None:
            self._contact_edge(is_open=False)

        def contact_opened() -> None:
            self._contact_edge(is_open=True)

        def fire_contact_closed() -> None:
            self._fire_edge(contact_closed=True)

        def fire_contact_opened() -> None:
            self._fire_edge(contact_closed=False)

        self._contact.when_activated = contact_closed
        self._contact.when_deactivated = contact_opened
        self._exit.when_activated = self._exit_edge
        if self._fire_input is not None:
            self._fire_input.when_activated = fire_contact_closed
            self._fire_input.when_deactivated = fire_contact_opened

    # -- state -------------------------------------------------------------------------

    @property
    def door_open(self) -> bool:
        return not self._contact.is_active

    @property
    def unlocked(self) -> bool:
        """What the lock is being told to do (``True``: released)."""
        with self._lock:
            return self._driven.unlocked

    @property
    def unlocked_until(self) -> datetime | None:
        """When the current pulse ends (holds and the fire alarm aside)."""
        with self._lock:
            return self._safety.pulse_until

    @property
    def fire_alarm_active(self) -> bool:
        with self._lock:
            return self._safety.fire_alarm_active

    @property
    def emergency(self) -> bool:
        with self._lock:
            return self._driven.emergency

    @property
    def signalling(self) -> bool:
        """A signal pattern is still playing."""
        return self._player.busy

    def state(self) -> DoorState:
        with self._lock:
            return DoorState(self.door_open, self._driven.unlocked, self._driven.emergency)

    def subscribe(self, observer: DoorObserver) -> None:
        """Add an observer; it first hears ``started`` with the state now."""
        with self._lock:
            self._notify(lambda o: o.started(self.state(), self._clock()), [observer])
            self._observers.append(observer)

    # -- commands ----------------------------------------------------------------------

    def unlock_for(self, seconds: float) -> None:
        """Pulse the lock open; a pulse while one runs extends it (never shortens it)."""
        check_unlock_s(seconds)
        with self._lock:
            self._check_open()
            now = self._clock()
            self._start_pulse(self._safety.unlock_for(seconds, now=now), now)

    def _start_pulse(self, relock: Relock | None, now: datetime) -> None:
        """(Re)schedule the relock the rules asked for, and drive the lock open."""
        if relock is None:
            return  # a longer pulse already runs
        if self._pulse_timer is not None:
            self._pulse_timer.cancel()
        self._pulse_timer = self._scheduler.call_later(
            relock.delay_s, partial(self._pulse_ended, relock.generation)
        )
        self._apply(now)

    def _pulse_ended(self, generation: int) -> None:
        try:
            with self._lock:
                if self._closed or not self._safety.pulse_ended(generation):
                    return  # stale: the pulse was extended, or the door closed
                self._pulse_timer = None
                self._apply(self._clock())
        except Exception:
            logger.exception("relocking the door failed")

    def hold_unlocked(self, reason: Reason) -> None:
        """Keep the lock open until :meth:`release` (an emergency, an open day)."""
        check_opens(reason)
        with self._lock:
            self._check_open()
            self._safety.hold(reason)
            self._apply(self._clock(), emergency_source="command")

    def release(self) -> None:
        """End every hold; an active fire alarm keeps the door unlocked regardless."""
        with self._lock:
            self._check_open()
            self._safety.release()
            if self._safety.fire_alarm_active:
                logger.warning("release ignored for the lock while the fire alarm is active")
            self._apply(self._clock(), emergency_source="command")

    def signal(self, reason: Reason) -> None:
        """Show the reason's colour and play its beeps; returns at once."""
        self._check_open()
        self._player.play(SIGNALS[reason])

    def _apply(self, now: datetime, *, emergency_source: EmergencySource = "command") -> None:
        """Drive the relay and resting colour as the rules say; tell observers what changed."""
        was, out = self._driven, self._safety.output()
        self._driven = out
        if out.unlocked != was.unlocked:
            self._relay.value = out.relay_energised
            self._notify(lambda o: o.lock_changed(unlocked=out.unlocked, at=now))
        if out.emergency != was.emergency:
            self._notify(
                lambda o: o.emergency_changed(active=out.emergency, source=emergency_source, at=now)
            )
        self._player.set_rest("off" if out.rest is None else SIGNALS[out.rest].led)

    # -- inputs (gpiozero callback threads) -------------------------------------------

    def _contact_edge(self, *, is_open: bool) -> None:
        with self._lock:
            at = self._clock()
            self._notify(lambda o: o.door_changed(is_open=is_open, at=at))

    def _exit_edge(self) -> None:
        with self._lock:
            if self._closed:
                return
            at = self._clock()
            self._notify(lambda o: o.exit_pressed(at))
            self._start_pulse(self._safety.exit_pressed(now=at), at)
        self._call_back(self.on_exit_button)

    def _fire_edge(self, *, contact_closed: bool) -> None:
        active = contact_closed != self.pins.fire_alarm_normally_closed
        with self._lock:
            if self._closed or not self._safety.fire_alarm(active=active):
                return
            if active:
                logger.warning("fire alarm: door unlocked until the alarm clears")
            self._apply(self._clock(), emergency_source="fire_alarm")
        if active:
            self._player.play(SIGNALS[Reason.EMERGENCY])  # a no-op once closed
        callback = self.on_fire_alarm
        if callback is not None:
            self._call_back(partial(callback, active))

    def _notify(
        self, call: Callable[[DoorObserver], None], observers: list[DoorObserver] | None = None
    ) -> None:
        for observer in self._observers if observers is None else observers:
            try:
                call(observer)
            except Exception:
                logger.exception("door observer %r failed; the door carries on", observer)

    @staticmethod
    def _call_back(callback: Callable[[], None] | None) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:
            logger.exception("door callback failed; the door carries on")

    def _check_open(self) -> None:
        if self._closed:
            raise DoorHardwareError("door hardware is closed; build a new DoorHardware")

    # -- shutdown ----------------------------------------------------------------------

    def close(self) -> None:
        """Stop signals and timers, release the relay (as a power cut would), free the pins."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._safety.stop()
            if self._pulse_timer is not None:
                self._pulse_timer.cancel()
        self._player.close()
        self._relay.off()
        self._close_devices()

    def _close_devices(self) -> None:
        for device in reversed(self._devices):
            device.close()
        self._devices.clear()

    def __enter__(self) -> DoorHardware:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
