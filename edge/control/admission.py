"""Whether a message on a command topic may run: own topic, decodable, fresh, never run before."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from edge.clock import Clock
from edge.control.seen import SeenStore
from edge.control.verdict import UNKNOWN_NAME, UNREADABLE_ID, Status, Verdict
from protocol.commands import COMMANDS, AnyCommand, decode_command
from protocol.errors import PayloadError, TopicError
from protocol.payloads import MAX_PAYLOAD_BYTES
from protocol.topics import Kind, Topic

logger = logging.getLogger(__name__)

_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{8,64}$")  # protocol.commands.CommandId
_EVERY_COMMAND: Final = tuple(COMMANDS)


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


_STATUS: Final = {
    CommandReason.ACCEPTED: Status.DONE,
    CommandReason.UNKNOWN_COMMAND: Status.UNKNOWN_COMMAND,
    CommandReason.EXPIRED: Status.EXPIRED,
    CommandReason.REPLAYED: Status.REPLAYED,
    CommandReason.STORE_FAILED: Status.FAILED,
}


@dataclass(frozen=True, slots=True)
class Admission:
    """The gate's answer; ``command`` is set exactly when the command may run."""

    reason: CommandReason
    detail: str
    command: AnyCommand | None = None
    # What the result event names, even for a payload that could not be decoded.
    command_id: str = UNREADABLE_ID
    name: str = UNKNOWN_NAME

    @property
    def accepted(self) -> bool:
        return self.reason is CommandReason.ACCEPTED

    def verdict(self) -> Verdict:
        """A refusal as the result event reports it (refused unless more is known)."""
        return Verdict(_STATUS.get(self.reason, Status.REFUSED), self.detail)


class CommandGate:
    """Checks every message on the box's ``cmd/+`` in one order; never raises.

    A refused command does not use up its id: only an admitted one is recorded, durably,
    before it runs, so a redelivery after a power cut is refused as replayed.
    """

    def __init__(
        self,
        device: str,
        *,
        venue: str,
        clock: Clock,
        seen_store: SeenStore,
        names: Collection[str] = _EVERY_COMMAND,
    ) -> None:
        self._own = (venue, device)
        self._clock = clock
        self._seen = seen_store
        self._names = frozenset(names)

    def admit(self, topic: Topic | str, payload: bytes) -> Admission:
        try:
            received = topic if isinstance(topic, Topic) else Topic.parse(topic)
        except TopicError as exc:
            return _refused(CommandReason.NOT_OUR_TOPIC, str(exc), payload)
        name = received.command or UNKNOWN_NAME
        if (received.venue, received.device) != self._own or received.kind is not Kind.CMD:
            detail = f"{received} is not this device's command topic"
            return _refused(CommandReason.NOT_OUR_TOPIC, detail, payload, name)
        if name not in self._names:
            known = ", ".join(sorted(self._names))
            detail = f"this device does not know {name!r}; it knows {known}"
            return _refused(CommandReason.UNKNOWN_COMMAND, detail, payload, name)
        try:
            command = decode_command(received, payload)
        except PayloadError as exc:
            return _refused(_payload_reason(exc), str(exc), payload, name)
        return self._admit(command)

    def _admit(self, command: AnyCommand) -> Admission:
        now = self._clock()
        if now > command.expires_at:
            late = (now - command.expires_at).total_seconds()
            detail = f"command {command.command_id} expired {late:.0f} s ago; send a new one"
            return _logged(_about(command, CommandReason.EXPIRED, detail))
        try:
            new = self._seen.remember(command.command_id, until=command.expires_at)
        except sqlite3.Error as exc:
            # Without a durable record a redelivery could run it twice (open a door twice).
            logger.exception("cannot record command %s", command.command_id)
            detail = f"cannot record the command id ({exc}); not running it, check the disk"
            return _about(command, CommandReason.STORE_FAILED, detail)
        if not new:
            detail = f"command {command.command_id} was executed already"
            return _logged(_about(command, CommandReason.REPLAYED, detail))
        logger.info("accepted %s %s by %s", command.name, command.command_id, command.issued_by)
        return _about(command, CommandReason.ACCEPTED, "ok")


def _about(command: AnyCommand, reason: CommandReason, detail: str) -> Admission:
    admitted = command if reason is CommandReason.ACCEPTED else None
    return Admission(reason, detail, admitted, command.command_id, command.name)


def _refused(
    reason: CommandReason, detail: str, payload: bytes, name: str = UNKNOWN_NAME
) -> Admission:
    return _logged(Admission(reason, detail, command_id=_peek_id(payload), name=name))


def _logged(admission: Admission) -> Admission:
    logger.warning("refused a command: %s (%s)", admission.reason, admission.detail)
    return admission


def _peek_id(payload: bytes) -> str:
    """The id a refused payload names, if it names a valid one: the cloud can match it."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return UNREADABLE_ID
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, absurdly nested
        return UNREADABLE_ID
    value = data.get("command_id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and _ID_RE.fullmatch(value) else UNREADABLE_ID


def _payload_reason(exc: PayloadError) -> CommandReason:
    if exc.field == "v":
        return CommandReason.UNSUPPORTED_VERSION
    if exc.field == "device":
        return CommandReason.WRONG_DEVICE
    return CommandReason.MALFORMED
