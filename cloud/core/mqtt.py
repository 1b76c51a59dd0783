"""What the cloud's paho clients share: ids nobody else can take, and a clean stop."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

_SECRET_HEX: Final = 32  # 128 bits


def session_client_id(name: str) -> str:
    """A client id for one connection of a cloud service (control, broker admin).

    MQTT hands a session to whoever connects with its client id. Device accounts are bound
    to their own id, but the provisioning account (on every factory box) cannot be, so the
    cloud's own ids carry a part it cannot guess.
    """
    return f"{name}-{secrets.token_hex(_SECRET_HEX // 2)}"


def lasting_client_id(name: str, secret: str | None) -> str:
    """A client id that stays the same across restarts (a persistent session: ingest) yet
    cannot be guessed without ``secret`` (the service's broker password).

    Without a password (the anonymous development broker) there is nothing to keep
    secret, and ``name`` is used as it is.
    """
    if not secret:
        return name
    digest = hmac.new(secret.encode(), b"yizhan client id\0" + name.encode(), hashlib.sha256)
    return f"{name}-{digest.hexdigest()[:_SECRET_HEX]}"
