"""MQTT topics ``yz/v1/{venue}/{device}/{kind}`` as a value object that refuses bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from protocol.errors import TopicError
from protocol.ids import check_id

ROOT: Final = "yz"
VERSION: Final = "v1"
PREFIX: Final = f"{ROOT}/{VERSION}"

_COMMAND_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class Kind(StrEnum):
    """What a topic carries and in which direction."""

    TELEMETRY = "telemetry"  # device -> cloud, QoS 1 batches of readings
    EVENT = "event"  # device -> cloud, QoS 1 batches of events
    STATE = "state"  # device -> cloud, retained; last will publishes "offline"
    DIAG = "diag"  # device -> cloud, a diagnostics report answering a command
    CONFIG = "config"  # cloud -> device, retained desired config
    ACK = "ack"  # cloud -> device, the sequence numbers the cloud has stored
    CMD = "cmd"  # cloud -> device, cmd/{name}


UPLINK_KINDS: Final = frozenset({Kind.TELEMETRY, Kind.EVENT, Kind.STATE, Kind.DIAG})


@dataclass(frozen=True, slots=True)
class Topic:
    """One concrete topic; construct it and it is valid, or :class:`TopicError` says why."""

    venue: str
    device: str
    kind: Kind
    command: str | None = None

    def __post_init__(self) -> None:
        check_id(self.venue, what="venue")
        check_id(self.device, what="device")
        if not isinstance(self.kind, Kind):
            raise TopicError(f"kind {self.kind!r} is not one of {', '.join(Kind)}")
        if self.kind is Kind.CMD:
            if self.command is None or not _COMMAND_RE.fullmatch(self.command):
                raise TopicError(
                    f"command name {self.command!r} is not valid: use 1-32 lowercase "
                    "letters, digits, '_' or '-', starting with a letter"
                )
        elif self.command is not None:
            raise TopicError(f"only cmd topics carry a command name, not {self.kind}")

    def __str__(self) -> str:
        tail = f"{self.kind}/{self.command}" if self.kind is Kind.CMD else str(self.kind)
        return f"{PREFIX}/{self.venue}/{self.device}/{tail}"

    @classmethod
    def parse(cls, text: str) -> Topic:
        """Parse a concrete topic string (no wildcards)."""
        parts = text.split("/")
        if len(parts) not in (5, 6) or parts[0] != ROOT or parts[1] != VERSION:
            raise TopicError(
                f"topic {text[:120]!r} is not of the form {PREFIX}/{{venue}}/{{device}}/{{kind}}"
            )
        venue, device, kind_text = parts[2], parts[3], parts[4]
        try:
            kind = Kind(kind_text)
        except ValueError:
            raise TopicError(
                f"topic kind {kind_text[:40]!r} is not one of {', '.join(Kind)}"
            ) from None
        command = parts[5] if len(parts) == 6 else None
        if kind is not Kind.CMD and command is not None:
            raise TopicError(f"topic {text[:120]!r} has a part after its kind {kind}")
        return cls(venue, device, kind, command)


def subscription(kind: Kind, *, venue: str = "+", device: str = "+") -> str:
    """A subscription filter for one kind across venues/devices (``+`` = any)."""
    if venue != "+":
        check_id(venue, what="venue")
    if device != "+":
        check_id(device, what="device")
    tail = f"{kind}/+" if kind is Kind.CMD else str(kind)
    return f"{PREFIX}/{venue}/{device}/{tail}"
