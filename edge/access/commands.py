"""The unlock-only view of the command gate, for a door controller wired without an agent.

The agent runs every command through ``edge.control``; this keeps the door's original
interface (``CommandHandler.handle`` -> ``CommandOutcome``) on top of the same gate.
"""

from __future__ import annotations

from edge.clock import Clock
from edge.control.admission import Admission, CommandGate, CommandReason
from edge.control.seen import KEEP_AFTER_EXPIRY, SeenStore, SqliteSeenStore
from protocol.commands import UNLOCK
from protocol.topics import Topic

__all__ = [
    "KEEP_AFTER_EXPIRY",
    "CommandHandler",
    "CommandOutcome",
    "CommandReason",
    "SeenStore",
    "SqliteSeenStore",
]

CommandOutcome = Admission


class CommandHandler:
    """Decides whether a received ``cmd/unlock`` may open a door. Never raises."""

    def __init__(self, device: str, *, venue: str, clock: Clock, seen_store: SeenStore) -> None:
        self._gate = CommandGate(
            device, venue=venue, clock=clock, seen_store=seen_store, names=(UNLOCK,)
        )

    def handle(self, topic: Topic | str, payload: bytes) -> CommandOutcome:
        return self._gate.admit(topic, payload)
