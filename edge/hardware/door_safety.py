"""The door lock's safety rules without pins or timers: what the relay must do, and why.

:class:`DoorSafety` is told what happened (a pulse asked for, the exit button, the fire
alarm, a hold or its release, a relock falling due) and answers with a :class:`LockOutput`.
``edge.hardware.door.DoorHardware`` drives the gpiozero pins and the relock timers from it,
so these rules are tested with plain calls, no threads and no sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from edge.access.reasons import OPENS, Reason

PowerLoss = Literal["fail_safe", "fail_secure"]

# An exit button lets someone out without the agent: five seconds is the usual
# request-to-exit release time on access controllers, enough to push a door open.
DEFAULT_EXIT_UNLOCK_S = 5.0


class LockCause(StrEnum):
    """Why the lock is in its state, strongest first."""

    FIRE_ALARM = "fire_alarm"  # the fire panel says so: nothing the agent does relocks
    EMERGENCY = "emergency"  # an emergency hold was commanded
    HELD = "held"  # held open for another opening reason (an open day)
    PULSE = "pulse"  # a timed unlock: a scan, a command or the exit button
    LOCKED = "locked"


def relay_energised(power_loss: PowerLoss, *, unlocked: bool) -> bool:
    """Whether the relay coil must be energised for the lock to be (un)locked.

    A fail-secure strike is powered to unlock; a fail-safe maglock is powered to lock,
    so its relay logic is inverted (see ``DoorPins``).
    """
    return unlocked if power_loss == "fail_secure" else not unlocked


def check_unlock_s(seconds: float) -> None:
    if not seconds > 0:
        raise ValueError(f"unlock time must be positive, not {seconds}")


def check_opens(reason: Reason) -> None:
    if reason not in OPENS:
        raise ValueError(f"{reason} does not open the door; hold it with {sorted(OPENS)}")


@dataclass(frozen=True, slots=True)
class LockOutput:
    """What the lock must be, why, and which reason's colour stays lit between signals."""

    unlocked: bool
    emergency: bool
    cause: LockCause
    relay_energised: bool
    rest: Reason | None


@dataclass(frozen=True, slots=True)
class Relock:
    """A relock to schedule: after ``delay_s``, report ``pulse_ended(generation)``."""

    delay_s: float
    generation: int


class DoorSafety:
    """The lock's state from pulse, holds and fire alarm; not thread-safe (the driver locks).

    A pulse ends when its relock reports back with the latest generation, never by
    comparing clocks: a clock step cannot leave the door unlocked, and a relock that
    fires after an extension (or after :meth:`stop`) is stale and changes nothing.
    """

    def __init__(
        self,
        *,
        power_loss: PowerLoss = "fail_secure",
        exit_unlock_s: float | None = DEFAULT_EXIT_UNLOCK_S,
        fire_alarm: bool = False,
    ) -> None:
        self._power_loss = power_loss
        self._exit_unlock_s = exit_unlock_s
        self._fire = fire_alarm
        self._holds: set[Reason] = set()
        self._pulse_until: datetime | None = None
        self._generation = 0

    @property
    def fire_alarm_active(self) -> bool:
        return self._fire

    @property
    def pulse_until(self) -> datetime | None:
        """When the current pulse ends (holds and the fire alarm aside)."""
        return self._pulse_until

    def output(self) -> LockOutput:
        cause = self._cause()
        unlocked = cause is not LockCause.LOCKED
        emergency = cause in (LockCause.FIRE_ALARM, LockCause.EMERGENCY)
        rest: Reason | None = None
        if emergency:
            rest = Reason.EMERGENCY
        elif self._holds:
            rest = min(self._holds)
        return LockOutput(
            unlocked=unlocked,
            emergency=emergency,
            cause=cause,
            relay_energised=relay_energised(self._power_loss, unlocked=unlocked),
            rest=rest,
        )

    def _cause(self) -> LockCause:
        if self._fire:
            return LockCause.FIRE_ALARM
        if Reason.EMERGENCY in self._holds:
            return LockCause.EMERGENCY
        if self._holds:
            return LockCause.HELD
        if self._pulse_until is not None:
            return LockCause.PULSE
        return LockCause.LOCKED

    def unlock_for(self, seconds: float, *, now: datetime) -> Relock | None:
        """Start a pulse, or extend the running one (never shorten it).

        Returns the relock to schedule, replacing any earlier one; ``None`` when a longer
        pulse already runs and nothing changes.
        """
        check_unlock_s(seconds)
        until = now + timedelta(seconds=seconds)
        if self._pulse_until is not None and self._pulse_until >= until:
            return None
        self._pulse_until = until
        self._generation += 1
        return Relock(seconds, self._generation)

    def exit_pressed(self, *, now: datetime) -> Relock | None:
        """The exit button unlocks for ``exit_unlock_s``; with ``None`` the agent decides."""
        if self._exit_unlock_s is None:
            return None
        return self.unlock_for(self._exit_unlock_s, now=now)

    def pulse_ended(self, generation: int) -> bool:
        """A relock fell due; False (and no change) when it is stale."""
        if generation != self._generation:
            return False
        self._pulse_until = None
        return True

    def hold(self, reason: Reason) -> None:
        """Keep the lock open until :meth:`release` (an emergency, an open day)."""
        check_opens(reason)
        self._holds.add(reason)

    def release(self) -> None:
        """End every hold; an active fire alarm and a running pulse still keep it open."""
        self._holds.clear()

    def fire_alarm(self, *, active: bool) -> bool:
        """The fire-alarm input changed (or bounced); True if it really changed."""
        if active == self._fire:
            return False
        self._fire = active
        return True

    def stop(self) -> None:
        """Make every scheduled relock stale (the driver is closing)."""
        self._generation += 1
