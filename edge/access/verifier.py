"""From decoded QR text to a verified, unrevoked, not-yet-used member, offline."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Final

from edge.access.keys import KeyRing
from edge.access.members import DEFAULT_MAX_OFFLINE_AGE, MemberCache
from edge.access.model import Credential, Verification
from edge.access.reasons import Reason, from_code
from edge.access.replay import ReplayCache
from edge.clock import Clock, TrustedClock, utc_now
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import (
    DEFAULT_SKEW,
    MemberClaims,
    MemberCodeError,
    Mode,
    ParsedCode,
    Verdict,
    check,
    parse_code,
)
from protocol.membercode import Reason as CodeReason

logger = logging.getLogger(__name__)

# Every yizhan code starts "YZ"; anything else is another app's QR code (a URL, a payment
# code) and gets its own answer, so a member who shows the wrong screen is told so.
_FAMILY: Final = "YZ"
# How far a phone's proof time may run ahead of a door whose clock is not synchronised: the
# door knows only a lower bound of the time, lagging by as long as the power was off.
DEFAULT_UNSYNCED_PROOF_WINDOW: Final = timedelta(days=1)


def _credential(claims: MemberClaims) -> Credential:
    return Credential(
        mode=claims.mode,
        member_id=claims.member_id,
        groups=frozenset(claims.groups),
        kid=claims.kid,
        issued_at=claims.issued_at,
        expires_at=claims.expires_at,
        replay_key=claims.replay_key,
    )


def _read(text: object) -> ParsedCode | Verification:
    if not isinstance(text, str):
        return Verification(Reason.MALFORMED, "scanner passed something that is not text")
    if not text.startswith(_FAMILY):
        return Verification(Reason.NOT_MEMBER_CODE, "this QR code is not a member code")
    try:
        return parse_code(text)
    except MemberCodeError as exc:
        return Verification(from_code(exc.reason), exc.detail)


class Verifier:
    """Checks, in this order, and the first failure is the answer:

    not a member code → malformed/unsupported → no keys → stale cache → unknown key, bad
    signature, not yet valid, expired (``protocol.membercode.check``) → revoked → replayed.

    **Replay is checked here but recorded by** :meth:`commit`. ``verify`` only reads the
    replay cache; the door's policy (hours, capacity, passback, groups) may still refuse an
    accepted code, and a code refused by policy must not be burned: the member may retry it
    when the passback window or the queue has passed, within the code's short life. The door
    calls ``commit(credential)`` when it actually opens; ``commit`` is one atomic SQLite
    statement, so if two scans of one code race, exactly one commit returns True, and the
    other door must stay shut (``Reason.REPLAYED``).

    ``verification.credential`` is set whenever the signature verified (so an ``expired``,
    ``revoked`` or ``replayed`` decision can name the member); only ``Reason.ACCEPTED`` opens.

    ``verify`` never raises. If the local databases fail (disk error, corruption), the door
    refuses with ``stale_cache`` and the error is logged: fail secure, and ask for staff.

    With a :class:`~edge.clock.TrustedClock` whose clock is not synchronised, a code "issued
    in the future" is judged again after the time its issuer signed (a mode-1 code's issue
    time, a phone certificate's start) has lifted the clock's lower bound; a phone's own
    proof time never lifts it, and may run ahead of the bound by ``unsynced_proof_window``.
    """

    def __init__(
        self,
        keys: KeyRing,
        members: MemberCache,
        replay: ReplayCache,
        *,
        skew: timedelta = DEFAULT_SKEW,
        max_offline_age: timedelta = DEFAULT_MAX_OFFLINE_AGE,
        clock: Clock = utc_now,
        trusted: TrustedClock | None = None,
        unsynced_proof_window: timedelta = DEFAULT_UNSYNCED_PROOF_WINDOW,
    ) -> None:
        self.keys, self.members, self.replay = keys, members, replay
        self.skew, self.max_offline_age = skew, max_offline_age
        self.clock = trusted.now if trusted is not None else clock
        self.trusted, self.unsynced_proof_window = trusted, unsynced_proof_window

    def verify(self, text: str) -> Verification:
        try:
            return self._verify(text)
        except sqlite3.Error as exc:
            logger.exception("access databases failed while verifying a code")
            return Verification(
                Reason.STALE_CACHE, f"door's local database failed ({exc}); call staff"
            )
        except Exception:  # the door must answer whatever it was shown
            logger.exception("unexpected error while verifying a code")
            return Verification(Reason.MALFORMED, "code could not be checked; try again")

    def _verify(self, text: str) -> Verification:
        parsed = _read(text)
        if isinstance(parsed, Verification):
            return parsed
        now = self.clock()
        refused = self._unready(now)
        if refused is not None:
            return refused
        verdict, now = self._check(parsed, now)
        if verdict.claims is None:
            return Verification(from_code(verdict.reason), verdict.detail)
        credential = _credential(verdict.claims)
        if not verdict.accepted:
            return Verification(from_code(verdict.reason), verdict.detail, credential)
        return self._member_state(verdict.claims, credential, now)

    def _check(self, parsed: ParsedCode, now: datetime) -> tuple[Verdict, datetime]:
        verdict = check(parsed, keys=self.keys.keys, now=now, skew=self.skew)
        trusted = self.trusted
        if verdict.reason is not CodeReason.NOT_YET_VALID or trusted is None:
            return verdict, now
        if trusted.synchronised:
            return verdict, now
        # check() tests the time only after the signatures held: these times are the issuer's.
        claims = parsed.claims
        signed_at = claims.issued_at if claims.mode is Mode.ISSUED else claims.cert_valid_from
        if signed_at is not None and trusted.learn(signed_at):
            now = self.clock()
            verdict = check(parsed, keys=self.keys.keys, now=now, skew=self.skew)
        if verdict.reason is CodeReason.NOT_YET_VALID and claims.mode is Mode.PHONE_PROOF:
            verdict = check(
                parsed,
                keys=self.keys.keys,
                now=now,
                skew=self.skew,
                future_slack=self.unsynced_proof_window,
            )
        return verdict, now

    def refuses_all(self, now: datetime) -> bool:
        """Whether every code would be refused now (no keys, or caches too old to trust)."""
        try:
            return self._unready(now) is not None
        except sqlite3.Error:  # a failing cache refuses every code too (see verify)
            return True

    def _unready(self, now: datetime) -> Verification | None:
        """Fail secure when the door lacks what it needs to judge any code."""
        if not len(self.keys):
            return Verification(
                Reason.NO_KEYS, "door has no issuer keys; provision it with the union's key file"
            )
        stale = self.members.staleness(now, self.max_offline_age)
        if stale is not None:
            return Verification(Reason.STALE_CACHE, stale)
        return None

    def _member_state(
        self, claims: MemberClaims, credential: Credential, now: datetime
    ) -> Verification:
        record = self.members.lookup(claims.member_id)
        revoked = self._revoked(claims, record)
        if revoked is not None:
            return Verification(Reason.REVOKED, revoked, credential)
        lapsed = _lapsed(record, now)
        if lapsed is not None:
            return Verification(Reason.MEMBERSHIP_EXPIRED, lapsed, credential)
        if self.replay.seen(credential.replay_key, now):
            return Verification(
                Reason.REPLAYED, "this code was already used at this door; refresh it", credential
            )
        return Verification(Reason.ACCEPTED, "valid", credential)

    def _revoked(self, claims: MemberClaims, record: MemberRecord | None) -> str | None:
        if record is None:
            return None
        if record.status is MemberStatus.REVOKED:
            return f"member {claims.member_id} is revoked"
        after, since = record.phone_certs_after, claims.cert_valid_from
        withdrawn = (
            claims.mode is Mode.PHONE_PROOF
            and after is not None
            and since is not None
            and since.timestamp() < after
        )
        if withdrawn:
            return (
                f"this phone's certificate for {claims.member_id} was withdrawn "
                "(lost or replaced phone); renew it in the app"
            )
        return None

    def commit(self, credential: Credential) -> bool:
        """Burn the code at this door because the door opened for it.

        False means the same code was committed in the meantime (two scans racing): the
        door must not open, and should show ``Reason.REPLAYED``. The code is remembered
        until it could no longer pass here (``expires_at + skew``).
        """
        return self.replay.check_and_remember(
            credential.replay_key, credential.expires_at + self.skew, self.clock()
        )


def _lapsed(record: MemberRecord | None, now: datetime) -> str | None:
    """Why a membership that has run out is refused, or None while it runs (or has no end)."""
    if record is None or record.valid_until is None or now.timestamp() < record.valid_until:
        return None
    until = datetime.fromtimestamp(record.valid_until, UTC)
    return f"the membership of {record.member_id} lapsed at {until:%Y-%m-%d %H:%M} UTC; renew it"
