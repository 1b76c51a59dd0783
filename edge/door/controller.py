"""One door's decisions: a presented code, a remote unlock or an alarm becomes exactly
one relay action, one signal to the person, and one event in the outbox."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from edge.access.model import Decision, Verification
from edge.access.policy import DoorPolicy
from edge.access.reasons import Reason
from edge.access.verifier import Verifier
from edge.clock import Clock
from edge.door.monitor import DoorMonitor
from edge.hardware.door import DoorHardware
from edge.outbox import NewEvent
from protocol.commands import UnlockCommand

logger = logging.getLogger(__name__)

EventSink = Callable[[Sequence[NewEvent]], object]


class Face(Protocol):
    """Shows and says a decision off the door's path (``edge.door.face.DoorFace``)."""

    def decided(self, decision: Decision) -> None: ...


DECISION_EVENT = "access.decision"


@dataclass(frozen=True, slots=True)
class RemoteUnlock:
    """What became of a remote unlock: opened, or why not."""

    opened: bool
    detail: str


@dataclass(frozen=True, slots=True)
class DoorTiming:
    pulse_s: float = 5.0  # how long the lock stays open for one accepted member


class DoorController:
    """Scan -> verify -> policy -> relay -> signal -> event, in that order.

    The relay moves before the event is written: the person at the door waits for the
    lock, not for the SD card. The event is still written before the next decision.
    """

    def __init__(
        self,
        *,
        door_id: str,
        verifier: Verifier,
        policy: DoorPolicy,
        hardware: DoorHardware,
        monitor: DoorMonitor,
        events: EventSink,
        clock: Clock,
        timing: DoorTiming = DoorTiming(),
        face: Face | None = None,
    ) -> None:
        self.door_id = door_id
        self._verifier, self._policy = verifier, policy
        self._hardware, self._monitor = hardware, monitor
        self._events, self._clock = events, clock
        self._timing = timing
        self._face = face
        self._lock = threading.Lock()  # one decision at a time: replay commits race otherwise
        self.decisions: dict[Reason, int] = {}

    def present(self, text: str) -> Decision:
        """A code came out of the scanner: decide, act, show, log."""
        with self._lock:
            now = self._clock()
            if self._hardware.emergency:
                decision = self._decision(Reason.EMERGENCY, "door held open by the fire alarm", now)
            else:
                decision = self._decide(self._verifier.verify(text), now)
            self._act(decision)
            return decision

    def _decide(self, verification: Verification, now: datetime) -> Decision:
        credential = verification.credential
        if verification.reason is not Reason.ACCEPTED or credential is None:
            member = credential.member_id if credential else None
            return self._decision(verification.reason, verification.detail, now, member)
        reason, detail = self._policy.decide(credential)
        if reason is Reason.ACCEPTED and not self._verifier.commit(credential):
            reason, detail = Reason.REPLAYED, "the same code opened this door a moment ago"
        if reason is Reason.ACCEPTED:
            self._policy.record_entry(credential, now)
        return self._decision(reason, detail, now, credential.member_id, mode=int(credential.mode))

    def _decision(
        self,
        reason: Reason,
        detail: str,
        now: datetime,
        member: str | None = None,
        *,
        mode: int | None = None,
    ) -> Decision:
        trusted = self._verifier.trusted
        synced = trusted is None or trusted.synchronised
        return Decision(reason, detail, self.door_id, now, member, mode, synced)

    def _act(self, decision: Decision) -> None:
        if decision.opens and decision.reason is not Reason.EMERGENCY:
            self._hardware.unlock_for(self._timing.pulse_s)
        self._hardware.signal(decision.reason)
        if self._face is not None:  # hands over and returns: the screen draws on its thread
            self._face.decided(decision)
        data: dict[str, str | int | float | bool | None] = {
            "door": self.door_id,
            "reason": str(decision.reason),
            "detail": decision.detail[:200],
        }
        if decision.member_id is not None:
            data["member"] = decision.member_id
        if decision.mode is not None:
            data["mode"] = decision.mode
        if not decision.clock_synchronised:
            data["clock_synchronised"] = False
        self._emit([NewEvent(decision.at, DECISION_EVENT, data)])
        # Counted last: whoever watches the count sees the relay and the event already done.
        self.decisions[decision.reason] = self.decisions.get(decision.reason, 0) + 1

    def remote_unlock(self, command: UnlockCommand) -> RemoteUnlock:
        """An admitted remote unlock (``edge.control`` checked topic, expiry and replay)."""
        if command.door != self.door_id:
            return RemoteUnlock(
                opened=False,
                detail=f"this box runs door {self.door_id!r}, not {command.door!r}",
            )
        with self._lock:
            decision = self._decision(
                Reason.REMOTE_UNLOCK,
                f"command {command.command_id} by {command.issued_by}",
                self._clock(),
            )
            self._act(decision)
        return RemoteUnlock(opened=True, detail=f"door {self.door_id} opened")

    def tick(self) -> None:
        """Turn the door monitor's findings (held open, forced, emergency) into events."""
        found = self._monitor.tick(self._clock())
        if found:
            self._emit([NewEvent(e.at, e.kind, dict(e.data())) for e in found])

    def _emit(self, events: Sequence[NewEvent]) -> None:
        try:
            self._events(events)
        except Exception:  # the door must keep deciding even if the disk is failing
            logger.exception("could not write %d door events to the outbox", len(events))
