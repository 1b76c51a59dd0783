"""A phone number as yizhan keeps it (a keyed hash and four digits), and the venue posters.

Both keys derive from the pseudonym key (``AuthKeys.pseudonym_key``), each under its own
label, so neither can stand in for the other nor for a member pseudonym. Rotating the
pseudonym key therefore retires every printed poster and every stored phone hash (workers
sign up again): docs/KEY-ROTATION.md says so.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Final

_PHONE_LABEL: Final = b"yizhan/worker-phone/v1"
_POSTER_LABEL: Final = b"yizhan/venue-poster/v1"
_CODE_LABEL: Final = b"yizhan/sms-code/v1"
# A mainland mobile number: 11 digits, 1 then 3-9. "+86", "0086" and spaces are accepted.
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_SEPARATORS = re.compile(r"[\s\-()]")
POSTER_TAG_CHARS: Final = 16  # 96 bits of base64url: no guessing a venue's poster


class BadPhoneError(ValueError):
    """Not a mainland mobile number."""


def normalize_phone(text: str) -> str:
    """``"+86 138-0013-8000"`` → ``"13800138000"``; BadPhoneError if it is not a mobile."""
    digits = _SEPARATORS.sub("", text or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    if not _MOBILE.fullmatch(digits):
        raise BadPhoneError("write an 11-digit mainland mobile number, like 13800138000")
    return digits


@dataclass(frozen=True, slots=True)
class WorkerKeys:
    phone: bytes
    poster: bytes
    code: bytes

    @classmethod
    def derive(cls, pseudonym_key: bytes) -> WorkerKeys:
        def under(label: bytes) -> bytes:
            return hmac.new(pseudonym_key, label, hashlib.sha256).digest()

        return cls(under(_PHONE_LABEL), under(_POSTER_LABEL), under(_CODE_LABEL))

    def phone_hash(self, phone: str) -> str:
        """The stored form of a normalized number: a keyed hash, useless without the key."""
        return hmac.new(self.phone, phone.encode(), hashlib.sha256).hexdigest()

    def code_hash(self, phone_hash: str, code: str) -> str:
        return hmac.new(self.code, f"{phone_hash}|{code}".encode(), hashlib.sha256).hexdigest()

    def poster_tag(self, venue_id: str, edition: int) -> str:
        """The tag a venue's walk-in poster URL carries: ``/m/join/<venue>?p=<tag>``."""
        mac = hmac.new(self.poster, f"{venue_id}|{edition}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode()[:POSTER_TAG_CHARS]

    def poster_holds(self, venue_id: str, edition: int, tag: str) -> bool:
        return hmac.compare_digest(self.poster_tag(venue_id, edition).encode(), tag.encode())
