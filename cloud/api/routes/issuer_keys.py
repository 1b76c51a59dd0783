"""``/api/v1/issuer-keys``: the member-code issuer's public keys and which boxes hold them.

Rotation: add the new key with a future ``not_before`` (doors receive it at once), watch
``boxes_holding`` reach ``boxes_total``, start signing with it, then retire the old key.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from cloud.api.auth_deps import require_roles
from cloud.api.deps import NowDep, SessionDep
from cloud.api.errors import ErrorResponse
from cloud.api.routes.devices import api_error
from cloud.auth.principal import Principal, Role
from cloud.devices.errors import DeviceError
from cloud.devices.issuer_keys import (
    KID_PATTERN,
    IssuerKeyCreate,
    IssuerKeyPublic,
    IssuerKeysPublic,
    add_issuer_key,
    issuer_keys,
    key_view,
    retire_issuer_key,
)

router = APIRouter(prefix="/issuer-keys", tags=["issuer keys"])
Viewer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.TECHNICIAN))]
Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Kid = Annotated[str, Path(max_length=8, pattern=KID_PATTERN)]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (404, 409)}


@router.get("")
def list_issuer_keys(*, session: SessionDep, principal: Viewer) -> IssuerKeysPublic:
    """Every key, with how many active doors and kiosks (in your venues) hold it."""
    return issuer_keys(session=session, scope=principal.venue_filter())


@router.post("", status_code=201, responses=_ERRORS)
def create_issuer_key(
    *, session: SessionDep, principal: Admin, now: NowDep, key_in: IssuerKeyCreate
) -> IssuerKeyPublic:
    """Add a public key (standard base64 of its 32 raw Ed25519 bytes); doors get it on
    their next sync, even before its ``not_before``."""
    try:
        add_issuer_key(session=session, key_in=key_in, now=now)
        return key_view(session=session, kid=key_in.kid, scope=principal.venue_filter())
    except DeviceError as exc:
        raise api_error(exc) from None


@router.post("/{kid}/retire", responses=_ERRORS)
def retire_issuer_key_route(
    *, session: SessionDep, principal: Admin, now: NowDep, kid: Kid
) -> IssuerKeyPublic:
    """Stop distributing a key: doors then refuse codes signed with it."""
    try:
        retire_issuer_key(session=session, kid=kid, now=now)
        return key_view(session=session, kid=kid, scope=principal.venue_filter())
    except DeviceError as exc:
        raise api_error(exc) from None
