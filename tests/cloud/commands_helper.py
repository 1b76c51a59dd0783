"""Test helper: the remote unlock the cloud would send one device, published on its topic only."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Protocol

from cloud.core.time import Clock, utc_now
from protocol.codec import encode
from protocol.commands import UNLOCK_QOS, UnlockCommand, unlock_topic

logger = logging.getLogger(__name__)


class Publisher(Protocol):
    """What publish_unlock needs of an MQTT client; paho's ``Client`` is one."""

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> object: ...


def publish_unlock(
    client_or_publisher: Publisher,
    *,
    venue: str,
    device: str,
    door: str,
    expires_at: datetime,
    issued_by: str,
    clock: Clock = utc_now,
    command_id: str | None = None,
) -> UnlockCommand:
    """Build, validate and publish an unlock for ``door`` of ``device``; returns the command.

    Raises ``ValueError`` (pydantic's, naming the field) for a bad id, an expiry not after
    now or more than MAX_UNLOCK_LIFETIME away, and TopicError for a bad venue or device.
    QoS 1 and never retained: see protocol/commands.py. The caller owns the client and its
    connection; a paho client queues the message while it reconnects.
    """
    topic = unlock_topic(venue, device)
    command = UnlockCommand(
        device=device,
        command_id=command_id or secrets.token_hex(16),
        door=door,
        issued_at=clock(),
        expires_at=expires_at,
        issued_by=issued_by,
    )
    client_or_publisher.publish(str(topic), encode(command), qos=UNLOCK_QOS, retain=False)
    logger.info(
        "unlock %s of %s/%s door %s by %s, valid until %s",
        command.command_id,
        venue,
        device,
        door,
        issued_by,
        command.expires_at.isoformat(),
    )
    return command
