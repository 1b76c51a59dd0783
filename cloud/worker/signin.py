"""Sign-in by phone: a six-digit code by SMS, limited per phone and per address.

The answer to "send me a code" is the same for a number yizhan knows and one it does not,
so the form cannot be used to learn who is registered. A code is kept only as a keyed hash,
works for a few minutes, and is burned after a few wrong tries; asking again replaces it.
Every limit is counted in the database, so it holds across API processes.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, func, select, update

from cloud.core.time import as_utc
from cloud.sms.sender import SmsError, SmsSender
from cloud.worker.identity import WorkerKeys
from cloud.worker.models import PhoneCode, SmsSent
from cloud.worker.settings import WorkerSettings

CODE_DIGITS: Final = 6
SENT_KEPT: Final = timedelta(days=1)  # what the longest limit looks back over


class SignInRefused(Exception):  # noqa: N818  (an answer for the person, not a fault)
    """``code`` names what to tell them; ``retry_after_s`` when waiting helps."""

    def __init__(self, code: str, *, retry_after_s: int = 0, detail: str = "") -> None:
        super().__init__(code)
        self.code, self.retry_after_s, self.detail = code, retry_after_s, detail


@dataclass(frozen=True, slots=True)
class Limits:
    gap: timedelta
    per_hour: int
    per_day: int
    address_per_hour: int

    @classmethod
    def of(cls, settings: WorkerSettings) -> Limits:
        return cls(
            timedelta(seconds=settings.phone_gap_s),
            settings.phone_per_hour,
            settings.phone_per_day,
            settings.address_per_hour,
        )


def _sent_since(session: Session, since: datetime, *where: object) -> tuple[int, datetime | None]:
    count, oldest = session.exec(
        select(func.count(), func.min(SmsSent.sent_at)).where(
            col(SmsSent.sent_at) > since,
            *where,  # type: ignore[arg-type]
        )
    ).one()
    return int(count), None if oldest is None else as_utc(oldest)


def _wait(oldest: datetime | None, window: timedelta, now: datetime) -> int:
    if oldest is None:
        return int(window.total_seconds())
    return max(1, int((oldest + window - now).total_seconds()) + 1)


def _check_limits(
    session: Session, phone_hash: str, address: str, limits: Limits, now: datetime
) -> None:
    hour, day = timedelta(hours=1), timedelta(days=1)
    by_address, oldest = _sent_since(session, now - hour, col(SmsSent.address) == address)
    if by_address >= limits.address_per_hour:
        raise SignInRefused("address_limit", retry_after_s=_wait(oldest, hour, now))
    mine = col(SmsSent.phone_hash) == phone_hash
    last = session.exec(select(func.max(SmsSent.sent_at)).where(mine)).one()
    if last is not None and now - as_utc(last) < limits.gap:
        raise SignInRefused("too_soon", retry_after_s=_wait(as_utc(last), limits.gap, now))
    for window, limit in ((hour, limits.per_hour), (day, limits.per_day)):
        count, oldest = _sent_since(session, now - window, mine)
        if count >= limit:
            raise SignInRefused("phone_limit", retry_after_s=_wait(oldest, window, now))


def send_code(
    session: Session,
    *,
    phone: str,
    address: str,
    keys: WorkerKeys,
    sender: SmsSender,
    settings: WorkerSettings,
    now: datetime,
) -> None:
    """Text a fresh code to ``phone`` (normalized), or SignInRefused saying why not."""
    now = as_utc(now)
    phone_hash = keys.phone_hash(phone)
    _check_limits(session, phone_hash, address, Limits.of(settings), now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    # Counted before sending: a text that failed half-way may still have cost money.
    session.add(SmsSent(phone_hash=phone_hash, address=address, sent_at=now))
    session.exec(delete(PhoneCode).where(col(PhoneCode.phone_hash) == phone_hash))
    session.add(
        PhoneCode(
            phone_hash=phone_hash,
            code_hash=keys.code_hash(phone_hash, code),
            created_at=now,
            expires_at=now + timedelta(minutes=settings.code_minutes),
        )
    )
    try:
        session.commit()
    except IntegrityError:  # the same phone's request a moment ago holds the row
        session.rollback()
        raise SignInRefused(
            "too_soon", retry_after_s=int(Limits.of(settings).gap.total_seconds())
        ) from None
    try:
        sender.send_code(phone, code)
    except SmsError as exc:
        raise SignInRefused("sms_failed", detail=exc.message) from exc


def check_code(
    session: Session,
    *,
    phone: str,
    code: str,
    keys: WorkerKeys,
    settings: WorkerSettings,
    now: datetime,
) -> str:
    """The phone's hash when ``code`` is its live code (which is then used up)."""
    now = as_utc(now)
    phone_hash = keys.phone_hash(phone)
    # Every try is counted before it is compared, in one statement: guesses sent side by
    # side cannot all read the same count and get more than code_attempts between them.
    counted = session.exec(
        update(PhoneCode)
        .where(
            col(PhoneCode.phone_hash) == phone_hash,
            col(PhoneCode.attempts) < settings.code_attempts,
            col(PhoneCode.expires_at) > now,
        )
        .values(attempts=PhoneCode.attempts + 1)
    )
    session.commit()
    row = session.get(PhoneCode, phone_hash)
    if counted.rowcount != 1 or row is None:
        raise SignInRefused("code_expired")
    presented = keys.code_hash(phone_hash, code.strip())
    if not hmac.compare_digest(presented.encode(), row.code_hash.encode()):
        left = settings.code_attempts - row.attempts
        raise SignInRefused("code_wrong" if left > 0 else "code_expired")
    session.delete(row)
    session.commit()
    return phone_hash


def forget_old(session: Session, now: datetime) -> None:
    """Drop texts older than the longest limit and codes that no longer work."""
    now = as_utc(now)
    session.exec(delete(SmsSent).where(col(SmsSent.sent_at) < now - SENT_KEPT))
    session.exec(delete(PhoneCode).where(col(PhoneCode.expires_at) < now))
    session.commit()
