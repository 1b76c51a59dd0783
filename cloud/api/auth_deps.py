"""Who is calling: the ``CurrentPrincipal`` dependency and the role and venue-scope checks.

A bearer credential is one of three kinds, told apart by its shape: the legacy
YZ_CLOUD_API_TOKEN (a SERVICE principal seeing every venue), an API token ``yzt_<id>.<secret>``,
or a person's JWT from ``POST /api/v1/auth/token``. An API token that is a box's own
(``Device.api_token_id``) gives a principal that knows the box and its role; routes let it
act only as that box (:func:`require_device_roles`).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select

from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.api.errors import ApiError
from cloud.auth import store
from cloud.auth.cookie import CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, csrf_ok
from cloud.auth.models import ApiToken
from cloud.auth.principal import Principal, Role, Scope
from cloud.auth.tokens import InvalidTokenError, verify_access_token
from cloud.devices.models import Device, DeviceStatus
from cloud.models import Venue

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from POST /api/v1/auth/token, or an API token an admin created.",
)


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401, code="unauthorized", message=message, headers={"WWW-Authenticate": "Bearer"}
    )


def forbidden(principal: Principal) -> ApiError:
    return ApiError(
        403,
        code="forbidden",
        message=f"a {principal.role.value} may not do this; ask an admin if you need to",
    )


def device_forbidden(principal: Principal, *, allowed: tuple[str, ...], doing: str) -> ApiError:
    """403 for a box's token asking for what only another kind of box (or a person) does."""
    who = f"{principal.device_role or 'unclaimed device'} {principal.device_id!r}"
    only = f"only a {' or '.join(allowed)}'s token may" if allowed else "no box's token may"
    return ApiError(
        403,
        code="wrong_device",
        message=f"this API token belongs to {who} and acts only as that box, and {only} "
        f"{doing}; use the token of the box that does it, or ask an admin",
    )


def _is_legacy_token(given: str, state: StateDep) -> bool:
    expected = state.auth.legacy_api_token
    if expected is None:
        return False
    # Constant-time on bytes: a str compare leaks the matching prefix length through timing,
    # and compare_digest refuses non-ASCII str.
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


def _person(session: Session, token: str, state: StateDep, now: NowDep) -> Principal:
    try:
        claimed = verify_access_token(token, keys=state.auth, now=now)
    except InvalidTokenError as exc:
        raise unauthorized(f"{exc}; get a new one from POST /api/v1/auth/token") from exc
    # The database, not the token, decides the role and venues: a disabled account or a
    # changed scope takes effect at once instead of when the token expires.
    user = store.get_user_by_username(session=session, username=claimed.subject)
    if user is None or user.disabled:
        raise unauthorized("this account no longer exists or is disabled; ask an admin")
    return store.principal_for_user(session=session, user=user)


def cookie_principal(request: Request, session: Session, state: StateDep, now: NowDep) -> Principal:
    """Whose sign-in cookie this is, for a page whose forms carry their own CSRF field."""
    return _person(session, request.cookies[SESSION_COOKIE], state, now)


def _from_cookie(request: Request, session: Session, state: StateDep, now: NowDep) -> Principal:
    """A dashboard page calling the API with the sign-in cookie the browser holds."""
    token = request.cookies[SESSION_COOKIE]
    if request.method not in SAFE_METHODS and not csrf_ok(
        token, request.headers.get(CSRF_HEADER), keys=state.auth
    ):
        raise ApiError(
            403,
            code="csrf_failed",
            message=f"a change made with the sign-in cookie needs the {CSRF_HEADER} header "
            "of the page that made it; reload the page and try again",
        )
    return _person(session, token, state, now)


def current_principal(
    request: Request,
    state: StateDep,
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind ``Authorization: Bearer …`` (or the dashboard's cookie), or 401."""
    if credentials is None:
        if SESSION_COOKIE in request.cookies:
            return _from_cookie(request, session, state, now)
        raise unauthorized(
            "this API needs an 'Authorization: Bearer <token>' header: log in at "
            "POST /api/v1/auth/token, or use an API token from an admin"
        )
    given = credentials.credentials
    if _is_legacy_token(given, state):
        return Principal(subject="token:legacy", role=Role.SERVICE, venue_ids=None)
    if given.startswith(store.TOKEN_PREFIX):
        principal = state.tokens.get(given, now)
        if principal is None:
            token = store.find_api_token(session=session, presented=given, now=now)
            if token is None:
                raise unauthorized("this API token is unknown, revoked or expired; ask an admin")
            principal = _with_device(
                session, token, store.principal_for_token(session=session, token=token)
            )
            if principal.role is Role.INTEGRATION:  # the platform's hot path, nothing else
                state.tokens.put(given, principal, now=now, expires_at=token.expires_at)
        request.state.principal = principal  # the integration audit reads it (cloud.api.audit)
        return principal
    return _person(session, given, state, now)


def _with_device(session: Session, token: ApiToken, principal: Principal) -> Principal:
    """The token's principal, bound to its box if it is a box's own token."""
    device = session.exec(select(Device).where(Device.api_token_id == token.id)).first()
    if device is None:
        return principal  # an integration token: scoped by its venues and role only
    # Decommissioning revokes the token too; this holds should the revocation be missed.
    if device.status == DeviceStatus.DECOMMISSIONED:
        raise unauthorized(f"device {device.id!r} was decommissioned; claim the box again")
    return replace(principal, device_id=device.id, device_role=device.role)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency letting only ``roles`` through (403 otherwise); it returns the principal.

    Use as ``dependencies=[Depends(require_roles(Role.ADMIN))]`` on a router or route, or
    ``principal: Annotated[Principal, Depends(require_roles(...))]`` in a signature.
    """
    allowed = frozenset(roles)

    def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in allowed:
            raise forbidden(principal)
        return principal

    return check


def require_scope(scope: Scope) -> Callable[[Principal], Principal]:
    """A dependency letting through an admin, or an integration token holding ``scope``."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.may(scope):
            raise ApiError(
                403,
                code="forbidden",
                message=f"this needs the {scope.value} scope: an integration token that "
                "holds it, or an admin; ask an admin for a token with that scope",
            )
        return principal

    return check


def require_device_roles(*device_roles: str, doing: str) -> Callable[[Principal], Principal]:
    """A dependency refusing a box's own token unless the box has one of ``device_roles``.

    People and integration tokens pass (their role is checked by :func:`require_roles`);
    with no ``device_roles`` every box's token is refused.
    """

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.acts_as(*device_roles):
            raise device_forbidden(principal, allowed=device_roles, doing=doing)
        return principal

    return check


def venue_not_found(venue_id: str) -> ApiError:
    return ApiError(
        404,
        code="venue_not_found",
        message=f"there is no venue {venue_id[:40]!r}; GET /api/v1/venues lists the venue ids",
    )


def scoped_venue(*, session: Session, principal: Principal, venue_id: str) -> Venue:
    """The venue if it exists and ``principal`` may see it; 404 alike otherwise.

    Not 403 for another manager's venue: the answer must not tell which ids exist.
    """
    venue = session.get(Venue, venue_id)
    if venue is None or not principal.sees_venue(venue.id):
        raise venue_not_found(venue_id)
    return venue


def get_scoped_venue(venue_id: str, session: SessionDep, principal: CurrentPrincipal) -> Venue:
    return scoped_venue(session=session, principal=principal, venue_id=venue_id)


# For routes with a ``{venue_id}`` path parameter. As a dependency it runs before the
# route's query parameters are validated, so a venue out of scope is 404 even with a bad query.
ScopedVenue = Annotated[Venue, Depends(get_scoped_venue)]


def scoped_device(*, session: Session, principal: Principal, device_id: str) -> Device:
    """The device if its venue is in ``principal``'s scope; 404 alike otherwise."""
    device = session.get(Device, device_id)
    if device is None or not principal.sees_venue(device.venue_id):
        raise ApiError(
            404,
            code="device_not_found",
            message=f"there is no device {device_id[:40]!r}; GET /api/v1/devices lists them",
        )
    return device
