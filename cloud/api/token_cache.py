"""Integration tokens recently checked, so a busy platform is not three queries a call.

A token's principal is kept for ``TTL`` (a few seconds), keyed by a SHA-256 of the presented
secret (the secret itself is not kept). Revoking a token, or a box's decommission, takes
effect in this process at once (:meth:`TokenCache.clear`, called by the revoking route) and
in other API processes within ``TTL``. Only integration tokens are kept: a box's token, whose
decommission must bite at once, is looked up every time. A token never outlives its own
``expires_at``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Final

from cloud.auth.principal import Principal
from cloud.core.time import as_utc

TTL: Final = timedelta(seconds=5)
_MAX: Final = 10_000


class TokenCache:
    def __init__(self, ttl: timedelta = TTL) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._kept: OrderedDict[bytes, tuple[Principal, datetime]] = OrderedDict()

    @staticmethod
    def _key(presented: str) -> bytes:
        return hashlib.sha256(presented.encode()).digest()

    def get(self, presented: str, now: datetime) -> Principal | None:
        key = self._key(presented)
        with self._lock:
            found = self._kept.get(key)
            if found is None:
                return None
            principal, until = found
            if as_utc(now) >= until:
                del self._kept[key]
                return None
            return principal

    def put(
        self, presented: str, principal: Principal, *, now: datetime, expires_at: datetime | None
    ) -> None:
        until = as_utc(now) + self._ttl
        if expires_at is not None:
            until = min(until, as_utc(expires_at))
        with self._lock:
            self._kept[self._key(presented)] = (principal, until)
            while len(self._kept) > _MAX:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
