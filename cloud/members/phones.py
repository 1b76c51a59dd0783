"""Members' phones for offline codes (mode 2): register a key, renew its certificate, revoke it.

The phone makes its own Ed25519 key pair and sends only the public half; the cloud answers
with the union's certificate for it (``protocol.membercode.certify_phone``, a week by
default), which the phone puts in every proof it signs at a door with no signal. A lost
phone is revoked: the member's ``phone_certs_after`` moves to the next whole second, so
every door refuses every certificate from before at its next sync, and the member's other
phones renew theirs (a renewal is dated from then on).
"""

from __future__ import annotations

import base64
import binascii
import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, func, select

from cloud.access.models import Member
from cloud.access.store import ROSTER_COLUMNS, upsert_members
from cloud.core.time import as_utc
from cloud.members.codes import CodeRefused, refusal
from cloud.members.models import MemberPhone
from protocol.access import MemberEntry, MemberStatus
from protocol.membercode import DEFAULT_CERT_LIFETIME, IssuerKey, MemberCodeError, certify_phone

MAX_PHONES: Final = 3  # active phones per member: a phone, a spare, a new one being set up


@dataclass(frozen=True, slots=True)
class Certificate:
    phone_id: str
    certificate: str  # standard base64 of the certificate bytes, for the phone to keep
    valid_from: datetime
    valid_until: datetime


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise CodeRefused(
            422,
            "bad_public_key",
            "public_key must be the standard base64 of a phone's 32-byte Ed25519 public key",
        ) from None


def _certify(
    session: Session, phone: MemberPhone, *, issuer: IssuerKey, now: datetime
) -> Certificate:
    refused = refusal(session, phone.member_id, now)
    if refused is not None:
        raise refused
    member = session.get(Member, phone.member_id)
    assert member is not None  # refusal() says so otherwise
    start = as_utc(now)
    if member.phone_certs_after is not None:  # dated no earlier than the last withdrawal
        start = max(start, as_utc(member.phone_certs_after))
    lifetime = DEFAULT_CERT_LIFETIME
    if member.valid_until is not None:  # never past the membership (a guest pass's 30 days)
        lifetime = min(lifetime, as_utc(member.valid_until) - start)
        if lifetime < timedelta(minutes=1):  # the shortest certificate there is
            raise CodeRefused(409, "membership_expired", "the membership has lapsed")
    try:
        body = certify_phone(
            phone.member_id,
            key=issuer,
            phone_public_key=_public_key(phone.public_key),
            now=start,
            lifetime=lifetime,
            groups=tuple(member.groups),
        )
    except MemberCodeError as exc:
        raise CodeRefused(
            409, "code_refused", f"no certificate could be made: {exc.detail}"
        ) from None
    phone.certified_at = as_utc(now)
    session.add(phone)
    session.commit()
    begins = start.replace(microsecond=0)
    ends = datetime.fromtimestamp(int((start + lifetime).timestamp()), UTC)  # whole seconds
    return Certificate(phone.id, base64.b64encode(body).decode(), begins, ends)


def register(
    session: Session,
    member_id: str,
    *,
    public_key: str,
    label: str | None,
    issuer: IssuerKey,
    now: datetime,
) -> Certificate:
    """Register a phone's public key for the member and certify it."""
    _public_key(public_key)
    refused = refusal(session, member_id, now)
    if refused is not None:
        raise refused
    same = session.exec(
        select(MemberPhone).where(
            col(MemberPhone.member_id) == member_id,
            col(MemberPhone.public_key) == public_key,
            col(MemberPhone.revoked_at).is_(None),
        )
    ).first()
    if same is not None:  # the app retried: the same phone, a fresh certificate
        return _certify(session, same, issuer=issuer, now=now)
    active = session.exec(
        select(func.count())
        .select_from(MemberPhone)
        .where(col(MemberPhone.member_id) == member_id, col(MemberPhone.revoked_at).is_(None))
    ).one()
    if active >= MAX_PHONES:
        raise CodeRefused(
            409,
            "too_many_phones",
            f"member {member_id!r} has {active} phones; revoke one they no longer use first",
        )
    phone = MemberPhone(
        id=secrets.token_hex(8),
        member_id=member_id,
        public_key=public_key,
        label=label,
        registered_at=as_utc(now),
        certified_at=as_utc(now),
    )
    return _certify(session, phone, issuer=issuer, now=now)


def _phone(session: Session, member_id: str, phone_id: str) -> MemberPhone:
    phone = session.get(MemberPhone, phone_id)
    if phone is None or phone.member_id != member_id:
        raise CodeRefused(404, "phone_not_found", f"member {member_id!r} has no phone {phone_id!r}")
    return phone


def renew(
    session: Session, member_id: str, phone_id: str, *, issuer: IssuerKey, now: datetime
) -> Certificate:
    """A fresh certificate for a registered phone (weekly, or after another was revoked)."""
    phone = _phone(session, member_id, phone_id)
    if phone.revoked_at is not None:
        raise CodeRefused(
            409, "phone_revoked", f"phone {phone_id!r} was revoked; register the phone again"
        )
    return _certify(session, phone, issuer=issuer, now=now)


def revoke(session: Session, member_id: str, phone_id: str, *, by: str, now: datetime) -> list[str]:
    """Revoke a lost phone; returns the member's other phones, which must renew."""
    phone = _phone(session, member_id, phone_id)
    if phone.revoked_at is None:
        phone.revoked_at, phone.revoked_by = as_utc(now), by[:80]
        session.add(phone)
        member = session.get(Member, member_id)
        assert member is not None  # a phone is registered only for a member on the roster
        # The next whole second: a door keeps whole seconds, and a certificate dated in
        # the same second as the loss must not pass.
        after = datetime.fromtimestamp(math.floor(as_utc(now).timestamp()) + 1, UTC)
        entry = MemberEntry(
            member_id=member_id,
            status=MemberStatus(member.status),
            groups=tuple(member.groups),
            phone_certs_after=after,
            valid_until=None if member.valid_until is None else as_utc(member.valid_until),
        )
        kept = {name: getattr(member, name) for name in ROSTER_COLUMNS} | {"changed_by": by[:80]}
        # Commits the phone's row with the member's change for the doors.
        upsert_members(session=session, entries=[entry], roster=[kept], now=now)
    return [p.id for p in phones(session, member_id) if p.revoked_at is None]


def phones(session: Session, member_id: str) -> list[MemberPhone]:
    return list(
        session.exec(
            select(MemberPhone)
            .where(col(MemberPhone.member_id) == member_id)
            .order_by(col(MemberPhone.registered_at), col(MemberPhone.id))
        )
    )


def renew_by(phone: MemberPhone) -> datetime:
    """When the phone's current certificate runs out (it should renew a day before)."""
    return as_utc(phone.certified_at) + DEFAULT_CERT_LIFETIME - timedelta(days=1)
