"""Issuer key rotation as people see it: which key each door and kiosk already holds.

A new key is added with a future ``not_before``; doors receive it at once (cloud.access.store
.keyset sends keys early) and report what they hold in their heartbeat. When every box
holds it, the union may start signing codes with it; then the old key is retired.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import AwareDatetime, ValidationError
from sqlmodel import Field, Session, SQLModel, col, select

from cloud.access import store as access_store
from cloud.access.models import IssuerPublicKey
from cloud.core.time import UtcDatetime
from cloud.devices.errors import DeviceError
from cloud.devices.models import Device, DeviceHealth, DeviceStatus

# Boxes that verify member codes and so must hold every issuer key in use.
KEY_HOLDER_ROLES = ("door", "kiosk")
KID_PATTERN = r"^[a-z0-9-]{1,8}$"  # protocol.access.Kid


class IssuerKeyCreate(SQLModel):
    kid: str = Field(schema_extra={"pattern": KID_PATTERN}, max_length=8)
    # Standard base64 of the 32 raw Ed25519 public key bytes (44 characters).
    public_key: str = Field(max_length=64)
    not_before: AwareDatetime | None = None
    not_after: AwareDatetime | None = None


class IssuerKeyPublic(SQLModel):
    kid: str
    public_key: str
    active: bool
    not_before: UtcDatetime | None
    not_after: UtcDatetime | None
    updated_at: UtcDatetime
    boxes_holding: int
    boxes_total: int


class IssuerKeysPublic(SQLModel):
    data: list[IssuerKeyPublic]
    count: int


def _holdings(session: Session, scope: frozenset[str] | None) -> tuple[int, Counter[str]]:
    """How many active doors and kiosks there are, and how many hold each kid."""
    query = (
        select(Device.id, DeviceHealth.issuer_keys)
        .join(DeviceHealth, col(DeviceHealth.device_id) == col(Device.id), isouter=True)
        .where(
            col(Device.status) == DeviceStatus.ACTIVE.value,
            col(Device.role).in_(KEY_HOLDER_ROLES),
        )
    )
    if scope is not None:
        query = query.where(col(Device.venue_id).in_(scope))
    total = 0
    held: Counter[str] = Counter()
    for _device, keys in session.exec(query):
        total += 1
        held.update({kid.strip() for kid in (keys or "").split(",") if kid.strip()})
    return total, held


def issuer_keys(*, session: Session, scope: frozenset[str] | None) -> IssuerKeysPublic:
    """Every key, active or retired, with how many boxes (in ``scope``) hold it."""
    total, held = _holdings(session, scope)
    rows = session.exec(select(IssuerPublicKey).order_by(col(IssuerPublicKey.kid))).all()
    data = [_view(row, held=held[row.kid], total=total) for row in rows]
    return IssuerKeysPublic(data=data, count=len(data))


def _view(row: IssuerPublicKey, *, held: int, total: int) -> IssuerKeyPublic:
    return IssuerKeyPublic.model_validate(row, update={"boxes_holding": held, "boxes_total": total})


def key_view(*, session: Session, kid: str, scope: frozenset[str] | None) -> IssuerKeyPublic:
    row = session.get(IssuerPublicKey, kid, populate_existing=True)
    if row is None:
        raise _not_found(kid)
    total, held = _holdings(session, scope)
    return _view(row, held=held[kid], total=total)


def _not_found(kid: str) -> DeviceError:
    return DeviceError(
        404,
        code="issuer_key_not_found",
        message=f"there is no issuer key {kid[:20]!r}; GET /api/v1/issuer-keys lists them",
    )


def add_issuer_key(*, session: Session, key_in: IssuerKeyCreate, now: datetime) -> None:
    """Add a public key; its kid must be new (a kid names one key forever)."""
    if session.get(IssuerPublicKey, key_in.kid) is not None:
        raise DeviceError(
            409,
            code="issuer_key_exists",
            message=f"issuer key {key_in.kid!r} exists; a kid names one key for good, so "
            "give the new key a new kid",
        )
    before, after = key_in.not_before, key_in.not_after
    if before is not None and after is not None and after <= before:
        raise DeviceError(
            422, code="issuer_key_invalid", message="not_after must be after not_before"
        )
    try:
        access_store.put_key(
            session=session,
            kid=key_in.kid,
            public_key=key_in.public_key,
            not_before=key_in.not_before,
            not_after=key_in.not_after,
            now=now,
        )
    except ValidationError as exc:
        message = str(exc.errors(include_url=False)[0]["msg"]).removeprefix("Value error, ")
        raise DeviceError(
            422,
            code="issuer_key_invalid",
            message=f"{message}; send the standard base64 of the 32 raw Ed25519 public key bytes",
        ) from None


def retire_issuer_key(*, session: Session, kid: str, now: datetime) -> None:
    try:
        access_store.retire_key(session=session, kid=kid, now=now)
    except access_store.AccessStoreError:
        raise _not_found(kid) from None
