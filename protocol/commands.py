"""Cloud -> device commands: ``cmd/unlock`` (remote unlock) and its decoder.

Published on the device's own command topic ``yz/v1/{venue}/{device}/cmd/unlock`` at QoS 1,
never retained: a retained unlock would open the door again on every reconnect. QoS 1 may
deliver twice, which is why a command carries an id the device executes at most once, and a
short expiry, so a command that sat in a broker queue while the box was offline does not
open the door hours later.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from protocol.codec import check_envelope, parse_json, validate_payload
from protocol.errors import PayloadError
from protocol.ids import Identifier
from protocol.payloads import SCHEMA_VERSION, Timestamp
from protocol.topics import Kind, Topic

UNLOCK: Final = "unlock"
UNLOCK_QOS: Final = 1
# Long enough for a broker round trip over a poor 4G link; short enough that a queued
# command cannot open the door long after the person who asked has left.
MAX_UNLOCK_LIFETIME: Final = timedelta(minutes=10)

# Random, URL-safe: 128 bits as 32 hex characters is what cloud.commands makes.
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
IssuedBy = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class UnlockCommand(BaseModel):
    """Open ``door`` once, if received before ``expires_at``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = SCHEMA_VERSION
    device: Identifier
    command_id: CommandId
    door: Identifier
    issued_at: Timestamp
    expires_at: Timestamp
    # Who asked (a technician's or manager's account), for the door's event log.
    issued_by: IssuedBy

    @model_validator(mode="after")
    def _short_lived(self) -> UnlockCommand:
        lifetime = self.expires_at - self.issued_at
        if lifetime <= timedelta(0):
            raise ValueError("expires_at must be after issued_at")
        if lifetime > MAX_UNLOCK_LIFETIME:
            raise ValueError(
                f"an unlock may live at most {MAX_UNLOCK_LIFETIME.total_seconds():.0f} s, "
                f"this one {lifetime.total_seconds():.0f} s; issue a fresh one when needed"
            )
        return self


def unlock_topic(venue: str, device: str) -> Topic:
    return Topic(venue, device, Kind.CMD, UNLOCK)


def decode_unlock(topic: Topic, payload: bytes) -> UnlockCommand:
    """Decode an unlock received on ``topic``; :class:`PayloadError` says what is wrong.

    The same checks in the same order as every other decoder (protocol/codec.py): size,
    UTF-8, JSON object, schema version, device = the topic's device, then the fields.
    """
    if topic.kind is not Kind.CMD or topic.command != UNLOCK:
        raise PayloadError("$", f"topic {topic} does not carry unlock commands")
    data = parse_json(payload)
    check_envelope(data, topic)
    return validate_payload(UnlockCommand, data)
