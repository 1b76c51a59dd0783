"""What became of one command on the box, as the ``command.result`` event reports it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from edge.outbox import NewEvent
from protocol.commands import RESULT_EVENT, CommandResult

# A refused payload may carry no readable id; the result still needs one the cloud accepts.
UNREADABLE_ID: Final = "unreadable"
UNKNOWN_NAME: Final = "unknown"


class Status(StrEnum):
    DONE = "done"  # carried out
    STAGED = "staged"  # kept for later (a new password, used once the broker asks for it)
    REFUSED = "refused"  # not for this box, malformed, or not something this box can do
    EXPIRED = "expired"  # arrived after its expires_at
    REPLAYED = "replayed"  # executed before (QoS 1 redelivers)
    FAILED = "failed"  # accepted, but carrying it out went wrong
    UNKNOWN_COMMAND = "unknown_command"  # a name this box does not know


_OK: Final = frozenset({Status.DONE, Status.STAGED})


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in _OK


def result_event(command_id: str, name: str, verdict: Verdict, *, at: datetime) -> NewEvent:
    """The ``command.result`` event for one command, fields cut to what the wire allows."""
    result = CommandResult(
        command=command_id,
        name=name[:32],
        ok=verdict.ok,
        status=str(verdict.status),
        detail=verdict.detail[:200],
    )
    return NewEvent(at, RESULT_EVENT, result.event_data())
