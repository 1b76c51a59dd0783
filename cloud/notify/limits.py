"""How often a person may send a test message: a test goes out at once, unqueued, and an SMS
costs money, so a script (or a stuck button) must not turn it into a spam cannon.

Counted in this process's memory with the login throttle's sliding window
(``cloud.auth.throttle.FailureLog``): behind N API processes a person gets at most N times
the limit, which still bounds the cost; the limit guards the channels, not a balance.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Final

from cloud.auth.throttle import FailureLog

# Five tests in ten minutes is a person trying robots and fixing an address; the same
# subscription three times is one fix and two checks.
PER_USER: Final = 5
PER_SUBSCRIPTION: Final = 3
WINDOW_S: Final = 600.0
_TRACKED: Final = 10_000


class TestSendLimit:
    """At most PER_USER tests per person and PER_SUBSCRIPTION per subscription in any
    WINDOW_S; thread-safe (sync routes run in a thread pool)."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(
        self,
        *,
        per_user: int = PER_USER,
        per_subscription: int = PER_SUBSCRIPTION,
        window_s: float = WINDOW_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._users: FailureLog[str] = FailureLog(
            limit=per_user, window_s=window_s, max_keys=_TRACKED
        )
        self._subscriptions: FailureLog[int] = FailureLog(
            limit=per_subscription, window_s=window_s, max_keys=_TRACKED
        )

    def take(self, username: str, subscription_id: int) -> int | None:
        """Count one test; None if it may go, else the whole seconds until one may."""
        with self._lock:
            now = self._monotonic()
            wait = max(
                self._users.retry_after(username, now),
                self._subscriptions.retry_after(subscription_id, now),
            )
            if wait > 0:
                return max(1, math.ceil(wait))
            self._users.fail(username, now)
            self._subscriptions.fail(subscription_id, now)
            return None
