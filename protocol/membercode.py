"""Member codes: compact Ed25519-signed, short-lived credentials shown as a QR code.

Text form: ``YZ1:`` + base45(body + signature). Base45 keeps the QR in alphanumeric
mode, so the largest code allowed here still fits QR version 8 at error correction M.

Body (big-endian), mode 1 "issued" (signed by a union issuer key)::

    u8 mode | u8 len, kid | u8 len, member id | u32 issued-at | u16 lifetime s
    | 8 bytes nonce | u8 n, n x (u8 len, group) | 64 bytes Ed25519 signature

Mode 2 "phone proof": the issuer certifies a phone's Ed25519 key for days (online, once);
the phone then signs a fresh proof every refresh, offline::

    u8 mode | certificate: u8 len, kid | u8 len, member id | u32 valid-from | u32 valid-until
    | 32 bytes phone public key | u8 n, n x (u8 len, group) | 64 bytes issuer signature
    | u32 proof time | u8 lifetime s | 4 bytes nonce | 64 bytes phone signature

The issuer signs ``_CERT_CONTEXT + certificate body``; the phone signs ``_PROOF_CONTEXT +
sha256(certificate) + proof time, lifetime, nonce``. A door checks both with public keys
only. Unknown mode bytes answer ``unsupported``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from protocol.base45 import Base45Error, b45decode, b45encode

PREFIX: Final = "YZ1:"
# Domain separation: a signature made for anything else can never verify as a member code.
_CONTEXT: Final = b"yizhan/member-code/v1\x00"
_CERT_CONTEXT: Final = b"yizhan/phone-cert/v1\x00"
_PROOF_CONTEXT: Final = b"yizhan/phone-proof/v1\x00"
SIGNATURE_BYTES: Final = 64
NONCE_BYTES: Final = 8
# The largest mode-2 code is 360 characters (QR v11-M holds 366); anything longer is junk.
MAX_TEXT: Final = 400
PHONE_KEY_BYTES: Final = 32
PROOF_NONCE_BYTES: Final = 4  # per phone per second: only needs to tell two refreshes apart
REPLAY_KEY_BYTES: Final = 16
MAX_KID: Final = 8
MAX_MEMBER_ID: Final = 24
MAX_GROUPS: Final = 4
MAX_GROUP: Final = 12
MAX_GROUP_BYTES: Final = 24  # sum of (1 + len) over groups: keeps the worst case in QR v8-M
MAX_LIFETIME: Final = timedelta(hours=1)
DEFAULT_LIFETIME: Final = timedelta(seconds=60)
DEFAULT_SKEW: Final = timedelta(seconds=30)
# A proof is as fresh as a mode-1 code; capped at a minute (by prove() and by every parse,
# though the u8 field could say 255 s) so a screenshot of a phone code dies as fast as one of
# an issued code.
DEFAULT_PROOF_LIFETIME: Final = timedelta(seconds=30)
MAX_PROOF_LIFETIME: Final = timedelta(seconds=60)
# Days, not seconds: the phone must reach the union online once per certificate lifetime.
DEFAULT_CERT_LIFETIME: Final = timedelta(days=7)
MAX_CERT_LIFETIME: Final = timedelta(days=31)

KID_RE: Final = re.compile(r"^[a-z0-9-]{1,8}$")
MEMBER_ID_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,24}$")
GROUP_RE: Final = re.compile(r"^[a-z0-9-]{1,12}$")


class Mode(IntEnum):
    ISSUED = 1  # signed by a union issuer key
    PHONE_PROOF = 2  # a fresh proof signed by a union-certified phone key


class Reason(StrEnum):
    """Why a code was refused, or ``accepted``. A closed set: doors map each to a signal."""

    ACCEPTED = "accepted"
    MALFORMED = "malformed"
    UNSUPPORTED = "unsupported"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"


@dataclass(frozen=True, slots=True)
class MemberClaims:
    mode: Mode
    kid: str
    member_id: str
    issued_at: datetime
    expires_at: datetime
    nonce: bytes
    groups: tuple[str, ...]
    # Names this presented code (a hash of its signed body): what a door's replay cache keeps.
    replay_key: bytes = b""
    # Mode 2 only: the phone certificate's validity.
    cert_valid_from: datetime | None = None
    cert_valid_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: Reason
    detail: str
    claims: MemberClaims | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is Reason.ACCEPTED


class MemberCodeError(ValueError):
    """A code that cannot be issued or parsed; ``reason`` is from :class:`Reason`."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class IssuerKey:
    kid: str
    private_key: Ed25519PrivateKey

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()


def _check(pattern: re.Pattern[str], value: str, what: str) -> bytes:
    if not pattern.fullmatch(value):
        raise MemberCodeError(Reason.MALFORMED, f"{what} {value!r} must match {pattern.pattern}")
    return value.encode("ascii")


def _pack_groups(groups: tuple[str, ...]) -> bytes:
    if len(groups) > MAX_GROUPS:
        raise MemberCodeError(Reason.MALFORMED, f"at most {MAX_GROUPS} groups fit a code")
    packed = b"".join(bytes([len(g)]) + _check(GROUP_RE, g, "group") for g in groups)
    if len(packed) > MAX_GROUP_BYTES:
        raise MemberCodeError(
            Reason.MALFORMED, f"groups take {len(packed)} bytes; at most {MAX_GROUP_BYTES} fit"
        )
    return bytes([len(groups)]) + packed


def issue(
    member_id: str,
    *,
    key: IssuerKey,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    groups: tuple[str, ...] = (),
    nonce: bytes | None = None,
) -> str:
    """Sign a fresh mode-1 member code valid from ``now`` for ``lifetime``."""
    if not timedelta(seconds=1) <= lifetime <= MAX_LIFETIME:
        raise MemberCodeError(Reason.MALFORMED, f"lifetime must be 1 s to {MAX_LIFETIME}")
    nonce = secrets.token_bytes(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise MemberCodeError(Reason.MALFORMED, f"nonce must be {NONCE_BYTES} bytes")
    issued = int(now.timestamp())
    if not 0 <= issued < 2**32:  # the body holds issued-at as u32 seconds (1970..2106)
        raise MemberCodeError(Reason.MALFORMED, f"issue time {now.isoformat()} does not fit a code")
    kid = _check(KID_RE, key.kid, "key id")
    mid = _check(MEMBER_ID_RE, member_id, "member id")
    body = (
        bytes([Mode.ISSUED, len(kid)])
        + kid
        + bytes([len(mid)])
        + mid
        + struct.pack(">IH", issued, int(lifetime.total_seconds()))
        + nonce
        + _pack_groups(groups)
    )
    return PREFIX + b45encode(body + key.private_key.sign(_CONTEXT + body))


def _seconds(moment: datetime, what: str) -> int:
    value = int(moment.timestamp())
    if not 0 <= value < 2**32:
        raise MemberCodeError(Reason.MALFORMED, f"{what} {moment.isoformat()} does not fit a code")
    return value


def certify_phone(
    member_id: str,
    *,
    key: IssuerKey,
    phone_public_key: Ed25519PublicKey,
    now: datetime,
    lifetime: timedelta = DEFAULT_CERT_LIFETIME,
    groups: tuple[str, ...] = (),
) -> bytes:
    """Certify a phone's key for ``member_id`` from ``now`` for ``lifetime`` (issuer side).

    The phone stores the returned bytes and puts them in every proof it signs.
    """
    if not timedelta(minutes=1) <= lifetime <= MAX_CERT_LIFETIME:
        raise MemberCodeError(Reason.MALFORMED, f"lifetime must be 1 min to {MAX_CERT_LIFETIME}")
    valid_from = _seconds(now, "certificate start")
    valid_until = _seconds(now + lifetime, "certificate end")
    kid = _check(KID_RE, key.kid, "key id")
    mid = _check(MEMBER_ID_RE, member_id, "member id")
    body = (
        bytes([len(kid)])
        + kid
        + bytes([len(mid)])
        + mid
        + struct.pack(">II", valid_from, valid_until)
        + phone_public_key.public_bytes_raw()
        + _pack_groups(groups)
    )
    return body + key.private_key.sign(_CERT_CONTEXT + body)


def _proof_message(cert: bytes, proof_fields: bytes) -> bytes:
    return _PROOF_CONTEXT + hashlib.sha256(cert).digest() + proof_fields


def prove(
    cert: bytes,
    *,
    phone_key: Ed25519PrivateKey,
    now: datetime,
    lifetime: timedelta = DEFAULT_PROOF_LIFETIME,
    nonce: bytes | None = None,
) -> str:
    """Sign a fresh mode-2 code with the phone's key (phone side, works offline)."""
    if not timedelta(seconds=1) <= lifetime <= MAX_PROOF_LIFETIME:
        raise MemberCodeError(Reason.MALFORMED, f"lifetime must be 1 s to {MAX_PROOF_LIFETIME}")
    nonce = secrets.token_bytes(PROOF_NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != PROOF_NONCE_BYTES:
        raise MemberCodeError(Reason.MALFORMED, f"nonce must be {PROOF_NONCE_BYTES} bytes")
    fields = struct.pack(">IB", _seconds(now, "proof time"), int(lifetime.total_seconds()))
    fields += nonce
    body = bytes([Mode.PHONE_PROOF]) + cert + fields
    # Parse what we built: a certificate that is not one (truncated, other bytes) fails here,
    # on the phone, instead of at a door.
    parse_code(PREFIX + b45encode(body + bytes(SIGNATURE_BYTES)))
    return PREFIX + b45encode(body + phone_key.sign(_proof_message(cert, fields)))


class _Reader:
    """Bounds-checked cursor over the body; every overrun is a MALFORMED error."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise MemberCodeError(Reason.MALFORMED, f"code ends inside its {what}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def text(self, pattern: re.Pattern[str], what: str) -> str:
        raw = self.take(self.take(1, what)[0], what)
        value = raw.decode("ascii", errors="replace")
        _check(pattern, value, what)
        return value

    def groups(self) -> tuple[str, ...]:
        return tuple(self.text(GROUP_RE, "group") for _ in range(self.take(1, "groups")[0]))

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MemberCodeError(Reason.MALFORMED, "code has trailing bytes")


@dataclass(frozen=True, slots=True)
class ParsedCode:
    """A code split into its claims and what each signature covers (no crypto, no clock).

    Mode 1 has one signature (issuer over the body). Mode 2 has two: the issuer's over the
    phone certificate, and the phone's over the proof; ``phone_key`` is the certified key.
    """

    claims: MemberClaims
    body: bytes  # everything before the final signature
    signature: bytes  # the final signature (issuer in mode 1, phone in mode 2)
    issuer_message: bytes
    issuer_signature: bytes
    phone_key: bytes | None = None
    proof_message: bytes = b""


def _replay_key(body: bytes) -> bytes:
    # The signed body already holds mode, kid, member and nonce (mode 1) or certificate,
    # proof time and nonce (mode 2): its hash names one presented code, whatever its size.
    return hashlib.sha256(body).digest()[:REPLAY_KEY_BYTES]


def _parse_issued(body: bytes, signature: bytes) -> ParsedCode:
    reader = _Reader(body, 1)
    kid = reader.text(KID_RE, "key id")
    member_id = reader.text(MEMBER_ID_RE, "member id")
    issued, lifetime = struct.unpack(">IH", reader.take(6, "validity"))
    nonce = reader.take(NONCE_BYTES, "nonce")
    groups = reader.groups()
    reader.end()
    issued_at = datetime.fromtimestamp(issued, UTC)
    claims = MemberClaims(
        Mode.ISSUED,
        kid,
        member_id,
        issued_at,
        issued_at + timedelta(seconds=lifetime),
        nonce,
        groups,
        replay_key=_replay_key(body),
    )
    return ParsedCode(claims, body, signature, _CONTEXT + body, signature)


def _parse_phone_proof(body: bytes, signature: bytes) -> ParsedCode:
    reader = _Reader(body, 1)
    kid = reader.text(KID_RE, "key id")
    member_id = reader.text(MEMBER_ID_RE, "member id")
    valid_from, valid_until = struct.unpack(">II", reader.take(8, "certificate validity"))
    phone_key = reader.take(PHONE_KEY_BYTES, "phone key")
    groups = reader.groups()
    cert_body = body[1 : reader.pos]
    cert_signature = reader.take(SIGNATURE_BYTES, "certificate signature")
    cert = cert_body + cert_signature
    proof_at, lifetime = struct.unpack(">IB", reader.take(5, "proof time"))
    if lifetime > MAX_PROOF_LIFETIME.total_seconds():
        # The u8 field holds up to 255 s; prove() never signs past the cap, so a longer one is
        # a phone app made to keep a screenshot of its code working for minutes.
        raise MemberCodeError(
            Reason.MALFORMED,
            f"proof lifetime {lifetime} s is past the {MAX_PROOF_LIFETIME.seconds} s a phone "
            "may give; refresh the code in the union app",
        )
    nonce = reader.take(PROOF_NONCE_BYTES, "nonce")
    reader.end()
    proof_fields = body[-(5 + PROOF_NONCE_BYTES) :]
    issued_at = datetime.fromtimestamp(proof_at, UTC)
    claims = MemberClaims(
        Mode.PHONE_PROOF,
        kid,
        member_id,
        issued_at,
        issued_at + timedelta(seconds=lifetime),
        nonce,
        groups,
        replay_key=_replay_key(body),
        cert_valid_from=datetime.fromtimestamp(valid_from, UTC),
        cert_valid_until=datetime.fromtimestamp(valid_until, UTC),
    )
    return ParsedCode(
        claims,
        body,
        signature,
        _CERT_CONTEXT + cert_body,
        cert_signature,
        phone_key,
        _proof_message(cert, proof_fields),
    )


def parse_code(text: str) -> ParsedCode:
    """Split a code of either mode; raises :class:`MemberCodeError` (MALFORMED/UNSUPPORTED)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT or not text.startswith(PREFIX):
        raise MemberCodeError(Reason.MALFORMED, f"not a yizhan member code (expected {PREFIX}…)")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except Base45Error as exc:
        raise MemberCodeError(Reason.MALFORMED, f"code is garbled: {exc}") from None
    if len(raw) < 2 + SIGNATURE_BYTES:
        raise MemberCodeError(Reason.MALFORMED, "code is too short")
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    if body[0] == Mode.ISSUED:
        return _parse_issued(body, signature)
    if body[0] == Mode.PHONE_PROOF:
        return _parse_phone_proof(body, signature)
    raise MemberCodeError(Reason.UNSUPPORTED, f"mode {body[0]} codes are not supported here")


def parse(text: str) -> tuple[MemberClaims, bytes, bytes]:
    """Split a code into claims, the body and its final signature (no crypto, no clock)."""
    parsed = parse_code(text)
    return parsed.claims, parsed.body, parsed.signature


def _signatures_hold(parsed: ParsedCode, key: Ed25519PublicKey) -> Verdict | None:
    try:
        key.verify(parsed.issuer_signature, parsed.issuer_message)
    except InvalidSignature:
        what = "phone certificate" if parsed.phone_key is not None else "code"
        return Verdict(Reason.BAD_SIGNATURE, f"signature does not match; {what} was altered")
    if parsed.phone_key is None:
        return None
    try:
        phone = Ed25519PublicKey.from_public_bytes(parsed.phone_key)
        phone.verify(parsed.signature, parsed.proof_message)
    except (InvalidSignature, ValueError):
        return Verdict(
            Reason.BAD_SIGNATURE, "proof is not signed by the certified phone; code was altered"
        )
    return None


def _certificate_window(claims: MemberClaims, now: datetime, skew: timedelta) -> Verdict | None:
    start, end = claims.cert_valid_from, claims.cert_valid_until
    if start is None or end is None:
        return None
    if start > now + skew:
        return Verdict(
            Reason.NOT_YET_VALID,
            f"phone certificate starts {start:%Y-%m-%d %H:%M} UTC; check the clocks",
            claims,
        )
    if end < now - skew:
        return Verdict(
            Reason.EXPIRED,
            f"phone certificate expired {end:%Y-%m-%d %H:%M} UTC; "
            "open the app once with a network to renew it",
            claims,
        )
    return None


def check(
    parsed: ParsedCode,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    skew: timedelta = DEFAULT_SKEW,
    future_slack: timedelta = timedelta(0),
) -> Verdict:
    """Key, signatures, then time, for an already parsed code. Never raises.

    ``future_slack`` widens only "issued in the future": a door whose clock is not
    synchronised knows a lower bound of the time, not the time (``edge.clock``).
    """
    claims = parsed.claims
    key = keys.get(claims.kid)
    if key is None:
        return Verdict(Reason.UNKNOWN_KEY, f"issuer key {claims.kid!r} is not known here")
    refused = _signatures_hold(parsed, key) or _certificate_window(claims, now, skew)
    if refused is not None:
        return refused
    if claims.issued_at > now + skew + future_slack:
        return Verdict(
            Reason.NOT_YET_VALID,
            f"code is issued in the future ({claims.issued_at:%H:%M:%S} UTC); check the clocks",
            claims,
        )
    if claims.expires_at < now - skew:
        return Verdict(
            Reason.EXPIRED,
            f"code expired at {claims.expires_at:%H:%M:%S} UTC; refresh it in the app",
            claims,
        )
    return Verdict(Reason.ACCEPTED, "valid", claims)


def verify(
    text: str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    skew: timedelta = DEFAULT_SKEW,
) -> Verdict:
    """Accept a code of either mode, or say which one :class:`Reason` refuses it. Never raises."""
    try:
        parsed = parse_code(text)
    except MemberCodeError as exc:
        return Verdict(exc.reason, exc.detail)
    return check(parsed, keys=keys, now=now, skew=skew)
