"""Turn door contact, lock, exit-button and emergency changes into door events.

A pure state machine: :class:`~edge.hardware.door.DoorHardware` stamps each change with
its injected clock, and the agent calls :meth:`DoorMonitor.tick` with the same clock to
run the held-open timer and collect what happened. Nothing here sleeps or starts a thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    from datetime import datetime

    from edge.hardware.door import DoorHardware, DoorState, EmergencySource

# Why the door opened, as recorded on ``door.opened``.
OpenCause = Literal["access", "exit_button", "emergency", "forced"]

# A manager's "door held open" alert: long enough for a wheelchair or a delivery trolley.
DEFAULT_HELD_OPEN_S = 60.0
# A strike or maglock takes a moment to re-engage and a door pushed just as the pulse ends
# still swings: an opening this soon after relocking is not forced.
DEFAULT_RELOCK_GRACE_S = 1.5
# A person who pressed the exit button (or tripped a request-to-exit sensor) may open the
# door mechanically from inside this long afterwards without it counting as forced.
DEFAULT_EXIT_GRACE_S = 10.0

Payload = dict[str, bool | int | float | str | None]


@dataclass(frozen=True, slots=True)
class DoorOpened:
    kind: ClassVar[str] = "door.opened"
    at: datetime
    cause: OpenCause

    def data(self) -> Payload:
        return {"cause": self.cause}


@dataclass(frozen=True, slots=True)
class DoorClosed:
    kind: ClassVar[str] = "door.closed"
    at: datetime
    open_s: float

    def data(self) -> Payload:
        return {"open_s": round(self.open_s, 3)}


@dataclass(frozen=True, slots=True)
class DoorHeldOpen:
    """Open past the limit; ``at`` is the moment it crossed it, not when it was noticed."""

    kind: ClassVar[str] = "door.held_open"
    at: datetime
    opened_at: datetime
    limit_s: float

    def data(self) -> Payload:
        return {"opened_at": self.opened_at.isoformat(), "limit_s": self.limit_s}


@dataclass(frozen=True, slots=True)
class DoorHeldOpenCleared:
    kind: ClassVar[str] = "door.held_open_cleared"
    at: datetime
    open_s: float

    def data(self) -> Payload:
        return {"open_s": round(self.open_s, 3)}


@dataclass(frozen=True, slots=True)
class DoorForced:
    """Opened while locked, with no exit-button press and no emergency."""

    kind: ClassVar[str] = "door.forced"
    at: datetime

    def data(self) -> Payload:
        return {}


@dataclass(frozen=True, slots=True)
class EmergencyOn:
    kind: ClassVar[str] = "emergency.on"
    at: datetime
    source: EmergencySource

    def data(self) -> Payload:
        return {"source": self.source}


@dataclass(frozen=True, slots=True)
class EmergencyOff:
    kind: ClassVar[str] = "emergency.off"
    at: datetime
    source: EmergencySource
    on_s: float

    def data(self) -> Payload:
        return {"source": self.source, "on_s": round(self.on_s, 3)}


DoorEvent = (
    DoorOpened
    | DoorClosed
    | DoorHeldOpen
    | DoorHeldOpenCleared
    | DoorForced
    | EmergencyOn
    | EmergencyOff
)


class DoorMonitor:
    """A :class:`~edge.hardware.door.DoorObserver` that queues events until :meth:`tick`.

    ``held_open_s`` counts from the opening (or from the end of an emergency, during which
    an open door is expected and not reported); ``door.held_open`` fires once per opening
    and ``door.held_open_cleared`` when that opening ends.
    """

    def __init__(
        self,
        *,
        held_open_s: float = DEFAULT_HELD_OPEN_S,
        relock_grace_s: float = DEFAULT_RELOCK_GRACE_S,
        exit_grace_s: float = DEFAULT_EXIT_GRACE_S,
    ) -> None:
        if not held_open_s > 0:
            raise ValueError(f"held_open_s must be positive, not {held_open_s}")
        self._held_open_s = held_open_s
        self._relock_grace_s = relock_grace_s
        self._exit_grace_s = exit_grace_s
        self._lock = threading.Lock()
        self._pending: list[DoorEvent] = []
        self._open_since: datetime | None = None
        self._held_from: datetime | None = None  # None: no held-open timer running
        self._held_reported = False
        self._unlocked = False
        self._locked_at: datetime | None = None
        self._exit_at: datetime | None = None
        self._emergency_since: datetime | None = None
        self._emergency_source: EmergencySource = "command"

    @property
    def held_open(self) -> bool:
        """The door has been open past ``held_open_s`` and is not shut yet."""
        with self._lock:
            return self._held_reported and self._open_since is not None

    def attach(self, hardware: DoorHardware) -> DoorMonitor:
        """Subscribe to ``hardware``, starting from its state now."""
        hardware.subscribe(self)
        return self

    def tick(self, now: datetime) -> list[DoorEvent]:
        """Run the held-open timer up to ``now``; return and forget the events so far."""
        with self._lock:
            self._check_held(now)
            events, self._pending = self._pending, []
            return events

    # -- DoorObserver ------------------------------------------------------------------

    def started(self, state: DoorState, at: datetime) -> None:
        with self._lock:
            self._unlocked = state.unlocked
            if state.emergency:
                self._emergency_on("fire_alarm", at)
            if state.door_open:
                # Found open at start-up: no opening to report, but it may be held open.
                self._open_since = at
                self._held_from = None if state.emergency else at

    def door_changed(self, *, is_open: bool, at: datetime) -> None:
        with self._lock:
            self._check_held(at)
            if is_open and self._open_since is None:
                self._opened(at)
            elif not is_open and self._open_since is not None:
                self._closed(at)

    def lock_changed(self, *, unlocked: bool, at: datetime) -> None:
        with self._lock:
            self._check_held(at)
            self._unlocked = unlocked
            if not unlocked:
                self._locked_at = at

    def exit_pressed(self, at: datetime) -> None:
        with self._lock:
            self._exit_at = at

    def emergency_changed(self, *, active: bool, source: EmergencySource, at: datetime) -> None:
        with self._lock:
            self._check_held(at)
            if active and self._emergency_since is None:
                self._emergency_on(source, at)
            elif not active and self._emergency_since is not None:
                on_s = (at - self._emergency_since).total_seconds()
                self._pending.append(EmergencyOff(at, self._emergency_source, on_s))
                self._emergency_since = None
                if self._open_since is not None and not self._held_reported:
                    self._held_from = at

    # -- internals (lock held) ---------------------------------------------------------

    def _emergency_on(self, source: EmergencySource, at: datetime) -> None:
        self._emergency_since = at
        self._emergency_source = source
        self._held_from = None
        self._pending.append(EmergencyOn(at, source))

    def _opened(self, at: datetime) -> None:
        cause = self._cause(at)
        self._open_since = at
        self._held_reported = False
        self._held_from = None if cause == "emergency" else at
        self._pending.append(DoorOpened(at, cause))
        if cause == "forced":
            self._pending.append(DoorForced(at))

    def _cause(self, at: datetime) -> OpenCause:
        if self._emergency_since is not None:
            return "emergency"
        if self._exit_at is not None and self._within(self._exit_at, at, self._exit_grace_s):
            return "exit_button"
        if self._unlocked:
            return "access"
        if self._locked_at is not None and self._within(self._locked_at, at, self._relock_grace_s):
            return "access"
        return "forced"

    @staticmethod
    def _within(since: datetime, at: datetime, seconds: float) -> bool:
        return 0 <= (at - since).total_seconds() <= seconds

    def _closed(self, at: datetime) -> None:
        assert self._open_since is not None
        open_s = (at - self._open_since).total_seconds()
        self._pending.append(DoorClosed(at, open_s))
        if self._held_reported:
            self._pending.append(DoorHeldOpenCleared(at, open_s))
        self._open_since = None
        self._held_from = None
        self._held_reported = False

    def _check_held(self, now: datetime) -> None:
        if self._held_from is None or self._held_reported or self._open_since is None:
            return
        if (now - self._held_from).total_seconds() >= self._held_open_s:
            crossed = self._held_from + timedelta(seconds=self._held_open_s)
            self._pending.append(DoorHeldOpen(crossed, self._open_since, self._held_open_s))
            self._held_reported = True
