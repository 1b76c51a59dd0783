"""A member's fresh door code (mode 1), minted by the cloud for the union's app or the member page.

The app never holds an issuer key: it asks ``POST /api/v1/members/{id}/codes`` and draws the
string it gets as a QR code. A code is refused here for what the door would refuse anyway
(a member the roster does not hold, suspended or revoked, lapsed), so the app can say why
instead of showing a code that will not open. Each member may have a few codes a minute:
a phone refreshes once a minute, a loop that asks thousands of times is stopped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlmodel import Session, col, select

from cloud.access.models import Member
from cloud.core.time import as_utc
from protocol.membercode import DEFAULT_LIFETIME, IssuerKey, MemberCodeError, issue

# Fetch the next code this long before the current one expires: a slow phone network
# still has the new code on screen while the old one is valid.
REFRESH_MARGIN: Final = timedelta(seconds=15)
# Codes per member per minute: a phone showing its code asks about once a minute; several
# phones, or a retry after a timeout, stay well inside.
CODES_PER_MINUTE: Final = 10
_TRACKED_MEMBERS: Final = 100_000  # memory bound of the limiter (oldest forgotten first)


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str  # the text to draw as a QR code
    expires_at: datetime
    refresh_in_s: int  # ask for the next code after this many seconds


class CodeRefused(Exception):  # noqa: N818  (an answer for the member, not a fault)
    """No code for this member; ``code`` is the API's error code, ``message`` English."""

    def __init__(self, status: int, code: str, message: str, **values: object) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.values = status, code, message, values


def refusal(session: Session, member_id: str, now: datetime) -> CodeRefused | None:
    """Why a door would refuse this member's code anyway, or None when one may be minted."""
    return refusal_of(session.get(Member, member_id), member_id, now)


def refusal_of(row: Member | None, member_id: str, now: datetime) -> CodeRefused | None:
    """:func:`refusal` for a member row already read (None: not on the roster)."""
    if row is None:
        return CodeRefused(
            409,
            "member_unknown",
            f"member {member_id!r} is not on the roster; add them (PUT /api/v1/members/"
            f"{member_id}) before issuing codes",
        )
    if row.standing != "active" or row.status != "active":
        return CodeRefused(
            409,
            "member_revoked",
            f"member {member_id!r} is {row.standing}; reinstate them to issue codes",
            standing=row.standing,
        )
    if row.valid_until is not None and as_utc(row.valid_until) <= as_utc(now):
        until = as_utc(row.valid_until)
        return CodeRefused(
            409,
            "membership_expired",
            f"the membership of {member_id!r} lapsed at {until.isoformat()}; renew it "
            "(valid_until) to issue codes",
            until=until,
        )
    return None


def _issued(row: Member, *, issuer: IssuerKey, now: datetime, lifetime: timedelta) -> IssuedCode:
    try:
        text = issue(
            row.member_id, key=issuer, now=now, lifetime=lifetime, groups=tuple(row.groups)
        )
    except MemberCodeError as exc:
        raise CodeRefused(409, "code_refused", f"no code could be made: {exc.detail}") from None
    expires_at = as_utc(now).replace(microsecond=0) + lifetime
    refresh_in = max(1, int((lifetime - REFRESH_MARGIN).total_seconds()))
    return IssuedCode(text, expires_at, refresh_in)


def mint_many(
    session: Session,
    member_ids: Sequence[str],
    *,
    issuer: IssuerKey,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> dict[str, IssuedCode | CodeRefused]:
    """A code, or the reason there is none, for each member: one query for all of them."""
    rows = {
        row.member_id: row
        for row in session.exec(select(Member).where(col(Member.member_id).in_(member_ids)))
    }
    found: dict[str, IssuedCode | CodeRefused] = {}
    for member_id in member_ids:
        row = rows.get(member_id)
        refused = refusal_of(row, member_id, now)
        if refused is not None or row is None:
            found[member_id] = refused or CodeRefused(409, "member_unknown", member_id)
            continue
        try:
            found[member_id] = _issued(row, issuer=issuer, now=now, lifetime=lifetime)
        except CodeRefused as exc:
            found[member_id] = exc
    return found


def mint(
    session: Session,
    member_id: str,
    *,
    issuer: IssuerKey,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> IssuedCode:
    """A fresh code for ``member_id``, signed by ``issuer``; CodeRefused says why not."""
    row = session.get(Member, member_id)
    refused = refusal_of(row, member_id, now)
    if refused is not None or row is None:
        raise refused or CodeRefused(409, "member_unknown", member_id)
    return _issued(row, issuer=issuer, now=now, lifetime=lifetime)


class CodeRateLimit:
    """At most ``per_minute`` codes per member in any sliding minute, in this process.

    Each API process counts its own: behind N processes a member gets at most N times the
    limit, which still stops a runaway loop; the limit guards the issuer, not a balance.
    """

    def __init__(
        self, per_minute: int = CODES_PER_MINUTE, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_minute = per_minute
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, deque[float]] = OrderedDict()

    def take(self, member_id: str) -> float | None:
        """Count one code; None if allowed, else the seconds until the next one may be."""
        now = self._monotonic()
        with self._lock:
            stamps = self._recent.pop(member_id, None) or deque()
            while stamps and now - stamps[0] >= 60.0:
                stamps.popleft()
            wait = None
            if len(stamps) >= self._per_minute:
                wait = 60.0 - (now - stamps[0])
            else:
                stamps.append(now)
            self._recent[member_id] = stamps  # most recent last
            while len(self._recent) > _TRACKED_MEMBERS:
                self._recent.popitem(last=False)
            return wait


def mint_ahead(
    session: Session,
    member_id: str,
    *,
    issuer: IssuerKey,
    now: datetime,
    ahead: int,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> list[IssuedCode]:
    """The code for now and ``ahead`` more, each valid for the next ``lifetime`` after the one
    before: a phone that loses its signal shows them in turn. Each is as short-lived as any
    code (a screenshot of one is useless a minute later); the door takes a code issued in
    the future only within its clock skew, so none works before its turn."""
    row = session.get(Member, member_id)
    refused = refusal_of(row, member_id, now)
    if refused is not None or row is None:
        raise refused or CodeRefused(409, "member_unknown", member_id)
    start = as_utc(now).replace(microsecond=0)
    return [
        _issued(row, issuer=issuer, now=start + k * lifetime, lifetime=lifetime)
        for k in range(ahead + 1)
    ]
