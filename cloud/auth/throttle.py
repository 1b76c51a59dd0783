"""Login throttling: failed logins counted three ways, and a bound on password hashes at once.

Checked before a password is hashed, so a refused try costs microseconds, not argon2's
64 MiB and 0.2 s (issue 15). A guesser meets the small per-account-and-address limit; the
owner, at another address, meets only the account-wide one, which takes many addresses to
fill. State is in this process's memory (see LoginLimits for why).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Generic, Literal, TypeVar

from cloud.auth.settings import LoginLimits

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
MonotonicClock = Callable[[], float]
Lang = Literal["zh-CN", "en"]

# Usernames are at most 64 characters (cloud.auth.models); a longer one is no account, and
# must not make a longer key.
_MAX_KEY: Final = 64
# One host gets a whole IPv6 /64; counting each of its 2**64 addresses apart would be none.
_IPV6_PREFIX: Final = 64


class LoginRefusedError(Exception):
    """A login refused before its password was checked; ``retry_after_s`` says when to retry."""

    status: int
    code: str

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = max(1, retry_after_s)
        super().__init__(self.text("en"))

    def text(self, lang: Lang) -> str:
        raise NotImplementedError


class LoginThrottledError(LoginRefusedError):
    """Too many failed logins for this account or from this address lately."""

    status = 429
    code = "login_throttled"

    def text(self, lang: Lang) -> str:
        minutes = math.ceil(self.retry_after_s / 60)
        if lang == "zh-CN":
            return f"登录失败次数过多，请 {minutes} 分钟后再试"
        unit = "minute" if minutes == 1 else "minutes"
        return f"too many failed sign-ins; try again in {minutes} {unit}"


class LoginBusyError(LoginRefusedError):
    """Every password-hashing slot stayed taken while this login waited."""

    status = 503
    code = "login_busy"

    def text(self, lang: Lang) -> str:
        if lang == "zh-CN":
            return f"服务器正忙于处理其他登录，请 {self.retry_after_s} 秒后再试"
        return f"the server is busy checking other sign-ins; try again in {self.retry_after_s} s"


class FailureLog(Generic[K]):
    """Failures per key over a sliding window; a key at ``limit`` failures is locked.

    A lock ends when its oldest failure leaves the window: it always expires, and tries
    refused meanwhile do not extend it (they are refused before they could fail).
    """

    def __init__(self, *, limit: int, window_s: float, max_keys: int) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        # Most recently failing last: the first is the one to forget when full.
        self._failures: OrderedDict[K, deque[float]] = OrderedDict()

    def retry_after(self, key: K, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        times = self._failures.get(key)
        if times is None:
            return 0.0
        self._forget_old(times, now)
        if not times:
            del self._failures[key]
            return 0.0
        if len(times) < self.limit:
            return 0.0
        return times[0] + self.window_s - now

    def fail(self, key: K, now: float) -> bool:
        """Count a failure of ``key``; True if it is this one that locks the key."""
        times = self._failures.pop(key, None)
        if times is None:
            times = deque(maxlen=self.limit)  # only the newest `limit` can decide a lock
        self._failures[key] = times
        self._forget_old(times, now)
        times.append(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return len(times) == self.limit

    def clear(self, key: K) -> None:
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)

    def _forget_old(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window_s:
            times.popleft()


def address_key(host: str | None) -> str:
    """The address a failure counts against: the IPv4 address, or the IPv6 /64."""
    if host is None:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:_MAX_KEY]  # a test client's "testclient", a Unix socket's path
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d from a dual-stack socket
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, _IPV6_PREFIX), strict=False))
    return str(address)


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    """Who is trying: the username as typed and the client address's key."""

    account: str
    address: str

    @classmethod
    def of(cls, username: str, host: str | None) -> LoginAttempt:
        return cls(account=username[:_MAX_KEY], address=address_key(host))


class LoginGuard:
    """One API process's login limits; thread-safe (sync routes run in a thread pool).

    Three counts of failures, each with its own limit (LoginLimits): per account and address,
    so a guesser is stopped after a handful without touching the owner elsewhere; per account,
    so guessers spread over many addresses are stopped too; per address, so one address
    cannot guess a little at each of many accounts.
    """

    def __init__(self, limits: LoginLimits, *, clock: MonotonicClock = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        window_s, max_keys = limits.window_s, limits.max_tracked
        self._pairs: FailureLog[LoginAttempt] = FailureLog(
            limit=limits.account_address_failures, window_s=window_s, max_keys=max_keys
        )
        self._accounts: FailureLog[str] = FailureLog(
            limit=limits.account_failures, window_s=window_s, max_keys=max_keys
        )
        self._addresses: FailureLog[str] = FailureLog(
            limit=limits.address_failures, window_s=window_s, max_keys=max_keys
        )
        self._hashing = threading.BoundedSemaphore(limits.concurrent_hashes)

    def check(self, attempt: LoginAttempt) -> None:
        """Raise LoginThrottledError if any count that covers ``attempt`` is locked now."""
        with self._lock:
            now = self._clock()
            wait = max(
                self._pairs.retry_after(attempt, now),
                self._accounts.retry_after(attempt.account, now),
                self._addresses.retry_after(attempt.address, now),
            )
        if wait > 0:
            raise LoginThrottledError(math.ceil(wait))

    @contextmanager
    def checking(self, attempt: LoginAttempt) -> Iterator[None]:
        """Hold a hashing slot for the block, checking the locks before and once inside.

        Raises LoginThrottledError, or LoginBusyError when no slot frees up in time. The
        second check stops the logins that passed the first together from all being hashed.
        """
        self.check(attempt)
        if not self._hashing.acquire(timeout=self.limits.hash_wait_s):
            raise LoginBusyError(1)
        try:
            self.check(attempt)
            yield
        finally:
            self._hashing.release()

    def failed(self, attempt: LoginAttempt) -> None:
        with self._lock:
            now = self._clock()
            self._pairs.fail(attempt, now)
            account_locked = self._accounts.fail(attempt.account, now)
            self._addresses.fail(attempt.address, now)
        if account_locked:
            # Its owner is now refused everywhere too: worth an operator's look.
            logger.warning(
                "login: account %r refused at every address: %d failed logins within %d s",
                attempt.account,
                self.limits.account_failures,
                self.limits.window_s,
            )

    def succeeded(self, attempt: LoginAttempt) -> None:
        """Clear this account-and-address's failures.

        The account-wide count stays: it bounds guesses at the account whatever its owner does,
        and a guesser must not get a fresh allowance each time the owner logs in. The
        address's count stays: one's own account, logged in between guesses at others, must
        not reset the guessing address's count.
        """
        with self._lock:
            self._pairs.clear(attempt)
