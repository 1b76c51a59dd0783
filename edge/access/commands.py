"""Checks a received remote unlock: own topic, own device, not expired, never executed before."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

from protocol.commands import UNLOCK, UnlockCommand, decode_unlock
from protocol.errors import PayloadError, TopicError
from protocol.topics import Kind, Topic

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
# Ids are kept this long past their command's expiry: a box whose clock is corrected
# backwards (NTP after a cold boot) must still refuse a replay of a command it executed.
KEEP_AFTER_EXPIRY: Final = timedelta(days=1)


class CommandReason(StrEnum):
    ACCEPTED = "accepted"
    NOT_OUR_TOPIC = "not_our_topic"
    UNKNOWN_COMMAND = "unknown_command"
    UNSUPPORTED_VERSION = "unsupported_version"
    WRONG_DEVICE = "wrong_device"
    MALFORMED = "malformed"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    STORE_FAILED = "store_failed"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    reason: CommandReason
    detail: str
    command: UnlockCommand | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is CommandReason.ACCEPTED


class SeenStore(Protocol):
    def remember(self, command_id: str, *, until: datetime) -> bool:
        """Record ``command_id``; False if it was recorded before."""
        ...


class SqliteSeenStore:
    """Executed command ids in SQLite, so a restart does not make a command new again."""

    def __init__(self, path: Path, *, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # FULL: an id the box acted on must survive a power cut right after the door opened.
        self._db.executescript(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
            "CREATE TABLE IF NOT EXISTS seen_command "
            "(command_id TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS ix_seen_command_until ON seen_command (until);"
        )

    def remember(self, command_id: str, *, until: datetime) -> bool:
        forget_before = (self._clock() - KEEP_AFTER_EXPIRY).timestamp()
        with self._lock:
            self._db.execute("DELETE FROM seen_command WHERE until < ?", (forget_before,))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO seen_command VALUES (?, ?)",
                (command_id, until.timestamp()),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _refused(reason: CommandReason, detail: str) -> CommandOutcome:
    logger.warning("refused a command: %s (%s)", reason, detail)
    return CommandOutcome(reason, detail)


class CommandHandler:
    """Decides whether a received ``cmd/unlock`` may open a door. Never raises.

    Connect ``handle`` to the uplink's command callback; on an accepted outcome open
    ``outcome.command.door`` and log a ``remote_unlock`` decision.
    """

    def __init__(self, device: str, *, venue: str, clock: Clock, seen_store: SeenStore) -> None:
        self._own = Topic(venue, device, Kind.CMD, UNLOCK)
        self._clock = clock
        self._seen = seen_store

    def handle(self, topic: Topic | str, payload: bytes) -> CommandOutcome:
        try:
            received = topic if isinstance(topic, Topic) else Topic.parse(topic)
        except TopicError as exc:
            return _refused(CommandReason.NOT_OUR_TOPIC, str(exc))
        own = self._own
        if (received.venue, received.device, received.kind) != (own.venue, own.device, own.kind):
            return _refused(
                CommandReason.NOT_OUR_TOPIC, f"{received} is not this device's command topic"
            )
        if received.command != UNLOCK:
            return _refused(
                CommandReason.UNKNOWN_COMMAND, f"this device does not know {received.command!r}"
            )
        try:
            command = decode_unlock(received, payload)
        except PayloadError as exc:
            return _refused(_payload_reason(exc), str(exc))
        return self._admit(command)

    def _admit(self, command: UnlockCommand) -> CommandOutcome:
        now = self._clock()
        if now > command.expires_at:
            late = (now - command.expires_at).total_seconds()
            return _refused(
                CommandReason.EXPIRED,
                f"command {command.command_id} expired {late:.0f} s ago; send a new one",
            )
        try:
            new = self._seen.remember(command.command_id, until=command.expires_at)
        except sqlite3.Error as exc:
            # Without a durable record a redelivery could open the door twice: refuse.
            logger.exception("cannot record command %s", command.command_id)
            return CommandOutcome(
                CommandReason.STORE_FAILED, f"cannot record the command id ({exc}); not opening"
            )
        if not new:
            return _refused(
                CommandReason.REPLAYED, f"command {command.command_id} was executed already"
            )
        logger.info(
            "accepted unlock %s of door %s by %s",
            command.command_id,
            command.door,
            command.issued_by,
        )
        return CommandOutcome(CommandReason.ACCEPTED, "ok", command)


def _payload_reason(exc: PayloadError) -> CommandReason:
    if exc.field == "v":
        return CommandReason.UNSUPPORTED_VERSION
    if exc.field == "device":
        return CommandReason.WRONG_DEVICE
    return CommandReason.MALFORMED
