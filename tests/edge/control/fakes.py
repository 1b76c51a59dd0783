"""Stand-ins for the control plane's collaborators: a clock, an event log, an identity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from edge.outbox import NewEvent
from protocol.codec import encode
from protocol.commands import COMMANDS, RESULT_EVENT
from protocol.topics import Kind, Topic

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
VENUE, DEVICE = "station-07", "door-01"


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class EventLog:
    """The outbox as the control plane sees it: a sink of events."""

    events: list[NewEvent] = field(default_factory=list)

    def __call__(self, events: Sequence[NewEvent]) -> None:
        self.events.extend(events)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [dict(e.data) for e in self.events if e.type == kind]

    def results(self) -> list[dict[str, Any]]:
        return self.of(RESULT_EVENT)


@dataclass
class FakeIdentity:
    generation: int = 1
    staged: list[tuple[str, int, str | None]] = field(default_factory=list)
    forgotten: bool = False

    def stage(self, password: str, generation: int, *, username: str | None = None) -> bool:
        if generation <= self.generation:
            return False
        self.staged.append((password, generation, username))
        return True

    def forget(self) -> None:
        self.forgotten = True


def command_fields(name: str, **overrides: Any) -> dict[str, Any]:
    """A valid command of ``name`` for DEVICE, issued now, living one minute."""
    fields: dict[str, Any] = {
        "v": 1,
        "device": DEVICE,
        "command_id": f"{name.replace('-', '')[:6]}-0001",
        "issued_at": NOW,
        "expires_at": NOW + timedelta(minutes=1),
        "issued_by": "tech-li",
    }
    return fields | _EXTRA.get(name, {}) | overrides


_EXTRA: dict[str, dict[str, Any]] = {
    "unlock": {"door": "main"},
    "rotate-credentials": {
        "username": "door-01",
        "password": "n3w-passw0rd-long-enough",
        "generation": 2,
    },
}


def command(name: str, **overrides: Any) -> tuple[Topic, bytes]:
    """The topic and payload the cloud would publish."""
    model = COMMANDS[name].model_validate(command_fields(name, **overrides))
    return Topic(VENUE, DEVICE, Kind.CMD, name), encode(model)
