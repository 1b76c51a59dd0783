"""The acknowledge link in every message: ``/n/ack/<token>``, signed, bound to one alert,
one recipient and an expiry.

The token is ``<alert>.<username>.<expires unix>.<signature>`` in URL-safe base64 around an
HMAC-SHA256 of the first three parts. It opens nothing by itself: the page still needs a
signed-in staff user whose scope covers the alert's venue (group robots reach people who
are not the subscriber). What the token adds is that a link cannot be made up or changed
to point at another alert, and that it stops working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cloud.notify.errors import NotifyError

_LABEL: Final = b"yizhan notify ack link v1"
# Development without any secret: links work across this machine's processes, and
# production refuses to sign with it (services.link_key).
DEVELOPMENT_KEY: Final = b"yizhan development notify link key - not for production"


class BadLinkError(NotifyError):
    """A token that was changed, made up, or has expired."""


@dataclass(frozen=True, slots=True)
class AckLink:
    alert_id: int
    username: str
    expires_at: datetime


def derive_key(jwt_secret: bytes) -> bytes:
    """The link key derived from the JWT secret: never the secret itself."""
    return hmac.new(jwt_secret, _LABEL, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(key: bytes, *, alert_id: int, username: str, now: datetime, hours: int) -> str:
    expires = int((now + timedelta(hours=hours)).timestamp())
    payload = f"{alert_id}.{username}.{expires}".encode()
    signature = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(signature)}"


def read_token(key: bytes, token: str, *, now: datetime) -> AckLink:
    """The link ``token`` stands for; raises BadLinkError for a changed or expired one."""
    try:
        payload_part, signature_part = token.split(".")
        payload, signature = _unb64(payload_part), _unb64(signature_part)
    except (ValueError, binascii.Error) as exc:
        raise BadLinkError("this link is not one of ours; open the alert from /alerts") from exc
    expected = hmac.new(key, payload, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise BadLinkError("this link was changed or made up; open the alert from /alerts")
    alert, rest = payload.decode().split(".", 1)
    username, expires = rest.rsplit(".", 1)  # a username may hold dots
    expires_at = datetime.fromtimestamp(int(expires), UTC)
    if now >= expires_at:
        raise BadLinkError("this link has expired; open the alert from /alerts")
    return AckLink(int(alert), username, expires_at)
