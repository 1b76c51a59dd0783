"""Member codes: compact Ed25519-signed, short-lived credentials shown as a QR code.

Text form: ``YZ1:`` + base45(body + signature). Base45 keeps the QR in alphanumeric
mode, so the largest code allowed here still fits QR version 8 at error correction M.

Body (big-endian), mode 1 "issued" (signed by a union issuer key)::

    u8 mode | u8 len, kid | u8 len, member id | u32 issued-at | u16 lifetime s
    | 8 bytes nonce | u8 n, n x (u8 len, group) | 64 bytes Ed25519 signature

Mode 2 is reserved for phone-key proofs (a union-certified phone key signing a fresh
proof offline); a verifier that does not know a mode answers ``unsupported``.
"""

from __future__ import annotations

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
SIGNATURE_BYTES: Final = 64
NONCE_BYTES: Final = 8
MAX_TEXT: Final = 400  # a QR v8-M holds 221 alphanumeric characters; anything longer is junk
MAX_KID: Final = 8
MAX_MEMBER_ID: Final = 24
MAX_GROUPS: Final = 4
MAX_GROUP: Final = 12
MAX_GROUP_BYTES: Final = 24  # sum of (1 + len) over groups: keeps the worst case in QR v8-M
MAX_LIFETIME: Final = timedelta(hours=1)
DEFAULT_LIFETIME: Final = timedelta(seconds=60)
DEFAULT_SKEW: Final = timedelta(seconds=30)

KID_RE: Final = re.compile(r"^[a-z0-9-]{1,8}$")
MEMBER_ID_RE: Final = re.compile(r"^[A-Za-z0-9._-]{1,24}$")
GROUP_RE: Final = re.compile(r"^[a-z0-9-]{1,12}$")


class Mode(IntEnum):
    ISSUED = 1  # signed by a union issuer key
    PHONE_PROOF = 2  # reserved: proof signed by a union-certified phone key


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


class _Reader:
    """Bounds-checked cursor over the body; every overrun is a MALFORMED error."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

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


def parse(text: str) -> tuple[MemberClaims, bytes, bytes]:
    """Split a code into claims, the signed body and the signature (no crypto, no clock)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT or not text.startswith(PREFIX):
        raise MemberCodeError(Reason.MALFORMED, f"not a yizhan member code (expected {PREFIX}…)")
    try:
        raw = b45decode(text[len(PREFIX) :])
    except Base45Error as exc:
        raise MemberCodeError(Reason.MALFORMED, f"code is garbled: {exc}") from None
    if len(raw) < 2 + SIGNATURE_BYTES:
        raise MemberCodeError(Reason.MALFORMED, "code is too short")
    body, signature = raw[:-SIGNATURE_BYTES], raw[-SIGNATURE_BYTES:]
    if body[0] != Mode.ISSUED:
        mode = "phone-key proof (mode 2)" if body[0] == Mode.PHONE_PROOF else f"mode {body[0]}"
        raise MemberCodeError(Reason.UNSUPPORTED, f"{mode} codes are not supported here")
    reader = _Reader(body)
    reader.take(1, "mode")
    kid = reader.text(KID_RE, "key id")
    member_id = reader.text(MEMBER_ID_RE, "member id")
    issued, lifetime = struct.unpack(">IH", reader.take(6, "validity"))
    nonce = reader.take(NONCE_BYTES, "nonce")
    groups = tuple(reader.text(GROUP_RE, "group") for _ in range(reader.take(1, "groups")[0]))
    if reader.pos != len(body):
        raise MemberCodeError(Reason.MALFORMED, "code has trailing bytes")
    issued_at = datetime.fromtimestamp(issued, UTC)
    claims = MemberClaims(
        Mode.ISSUED,
        kid,
        member_id,
        issued_at,
        issued_at + timedelta(seconds=lifetime),
        nonce,
        groups,
    )
    return claims, body, signature


def verify(
    text: str,
    *,
    keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    skew: timedelta = DEFAULT_SKEW,
) -> Verdict:
    """Accept a code, or say which one :class:`Reason` refuses it. Never raises."""
    try:
        claims, body, signature = parse(text)
    except MemberCodeError as exc:
        return Verdict(exc.reason, exc.detail)
    key = keys.get(claims.kid)
    if key is None:
        return Verdict(Reason.UNKNOWN_KEY, f"issuer key {claims.kid!r} is not known here")
    try:
        key.verify(signature, _CONTEXT + body)
    except InvalidSignature:
        return Verdict(Reason.BAD_SIGNATURE, "signature does not match; code was altered")
    if claims.issued_at > now + skew:
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
