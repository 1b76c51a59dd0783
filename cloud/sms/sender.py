"""The SMS sender interface, its one error, and the development sender that only logs."""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol

LOGGER_NAME: Final = "yizhan.sms"
logger = logging.getLogger(LOGGER_NAME)

# China mainland mobile numbers: 11 digits, 1 then 3-9 (no carrier has a 10x or 11x block).
_MAINLAND_MOBILE: Final = re.compile(r"1[3-9]\d{9}")
# The templates the union registers take a short numeric code (see docs/sms.md).
_SIGN_IN_CODE: Final = re.compile(r"\d{4,8}")
# How many phones the development sender remembers: enough for a demo room or a test,
# small enough that a script hammering it cannot grow the process.
DEV_MEMORY_PHONES: Final = 256

SmsErrorCode = Literal[
    "bad_phone",  # not an 11-digit mainland mobile number; nothing was sent
    "bad_code",  # not a 4-8 digit code; nothing was sent
    "auth_failed",  # the provider refused our credentials, signature or clock
    "provider_refused",  # the provider refused this message (limits, number, template...)
    "timeout",  # no answer in time: the code may or may not have gone out
    "network",  # the provider could not be reached at all
    "bad_response",  # an answer that is not the provider's documented JSON
]

# Called with (phone, code) by the development sender, e.g. to print the code on a console.
CodeCallback = Callable[[str, str], None]


class SmsError(Exception):
    """A code that could not be sent.

    ``code`` is a short word callers compare (never the text); ``message`` says, in English,
    what went wrong and what to do. ``provider_code`` is the provider's own error code when
    it answered with one (e.g. ``isv.BUSINESS_LIMIT_CONTROL``), for logs and support tickets.
    """

    def __init__(
        self, code: SmsErrorCode, message: str, *, provider_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.code: SmsErrorCode = code
        self.message = message
        self.provider_code = provider_code

    def __repr__(self) -> str:
        return f"SmsError({self.code!r}, {self.message!r}, provider_code={self.provider_code!r})"


class SmsSender(Protocol):
    """Sends a worker the one-time code they sign in with.

    ``phone`` is an 11-digit mainland mobile number ("13800138000"); each provider writes it
    the way its API wants. Returns once the provider accepted the message; raises SmsError.
    """

    def send_code(self, phone: str, code: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Notice:
    """An alert notice's template variables; the union registers a notice template with
    exactly these three (docs/notifications.md): ${venue} ${alert} ${link} at Aliyun,
    {1} {2} {3} at Tencent. Each is short: providers cap a variable at 20-35 characters."""

    venue: str
    alert: str
    link: str

    def as_params(self) -> dict[str, str]:
        return {"venue": self.venue[:20], "alert": self.alert[:20], "link": self.link[:35]}


class NoticeSender(Protocol):
    """Sends a staff member an alert notice through the notice template."""

    def send_notice(self, phone: str, notice: Notice) -> None: ...


def check_phone(phone: str) -> None:
    """Refuse a number before any provider is paid to refuse it."""
    if not _MAINLAND_MOBILE.fullmatch(phone):
        raise SmsError(
            "bad_phone",
            f"{mask_phone(phone)!r} is not a China mainland mobile number; give the 11 digits "
            "starting with 1, without +86, spaces or dashes (e.g. 13800138000)",
        )


def check_code(code: str) -> None:
    if not _SIGN_IN_CODE.fullmatch(code):
        raise SmsError(
            "bad_code",
            "a sign-in code must be 4 to 8 digits, which is what the registered SMS template "
            "accepts; this is a bug in the code generator, not something the worker can fix",
        )


def mask_phone(phone: str) -> str:
    """The number as logs may show it: a worker's phone is personal data (PIPL)."""
    if len(phone) < 8:
        return "*" * len(phone)
    return f"{phone[:3]}****{phone[-4:]}"


def refusal(
    provider: str, provider_code: str, provider_message: str, *, advice: str, auth: bool
) -> SmsError:
    """The error for a provider that answered with an error code, worded the same for all."""
    return SmsError(
        "auth_failed" if auth else "provider_refused",
        f"{provider} refused to send the code ({provider_code}: {provider_message}); {advice}",
        provider_code=provider_code,
    )


class DevSender:
    """Development only: sends nothing, logs the code and hands it to ``on_code``.

    Anyone who can read this process's log can sign in as any worker, so it must never run
    in production (``cloud.sms.settings.production_weakness`` says so).
    """

    def __init__(
        self, *, on_code: CodeCallback | None = None, memory: int = DEV_MEMORY_PHONES
    ) -> None:
        if memory < 1:
            raise ValueError(f"memory must be at least 1 phone, not {memory}")
        self._on_code = on_code
        self._memory = memory
        # phone -> its last code, least recently sent first; a lock because FastAPI runs
        # sync handlers in a thread pool.
        self._last: OrderedDict[str, str] = OrderedDict()
        self.notices: list[tuple[str, Notice]] = []  # the newest notices, for demos and tests
        self._lock = threading.Lock()

    def send_code(self, phone: str, code: str) -> None:
        check_phone(phone)
        check_code(code)
        self._remember(phone, code)
        logger.warning("development SMS sender, nothing sent: the code for %s is %s", phone, code)
        if self._on_code is not None:
            _call_back(self._on_code, phone, code)

    def send_notice(self, phone: str, notice: Notice) -> None:
        check_phone(phone)
        self.notices.append((phone, notice))
        del self.notices[: -self._memory]
        logger.warning("development SMS sender, nothing sent: notice for %s: %s", phone, notice)

    def last_code(self, phone: str) -> str | None:
        """The last code sent to ``phone``, if it is still among the remembered phones."""
        with self._lock:
            return self._last.get(phone)

    def _remember(self, phone: str, code: str) -> None:
        with self._lock:
            self._last[phone] = code
            self._last.move_to_end(phone)
            while len(self._last) > self._memory:
                self._last.popitem(last=False)


def _call_back(on_code: CodeCallback, phone: str, code: str) -> None:
    # A callback boundary: a broken console printer must not fail a sign-in whose code is
    # already logged and remembered.
    try:
        on_code(phone, code)
    except Exception:
        logger.exception("the development SMS sender's on_code callback failed")
