"""Names for processes that run as identical replicas: one command line, many containers."""

from __future__ import annotations

import re
from typing import Final

# What CloudSettings.ingest_client_id accepts (and every MQTT broker takes as a client id).
MAX_CLIENT_ID: Final = 64
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]+")


def replica_client_id(prefix: str, hostname: str) -> str:
    """``{prefix}-{hostname}``, with anything but letters, digits, ``_`` and ``-`` made ``-``.

    Docker names each container's host after its own id, so replicas started from one
    command line still get distinct MQTT client ids, and two workers never take over each
    other's session. The id lasts as long as the container: a restart keeps it, a recreated
    container starts a new session.
    """
    cleaned = _UNSAFE.sub("-", hostname).strip("-")
    if not cleaned:
        raise ValueError(f"host name {hostname!r} has nothing usable in an MQTT client id")
    return f"{prefix}-{cleaned}"[:MAX_CLIENT_ID]
