"""Writes and lookups of users and API tokens: plain functions taking ``session=``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime
from functools import cache

from sqlmodel import Session, col, delete, select

from cloud.auth.models import (
    ApiToken,
    ApiTokenCreate,
    ApiTokenVenue,
    User,
    UserCreate,
    UserUpdate,
    UserVenue,
)
from cloud.auth.passwords import PasswordCost, current_password_cost, password_hasher
from cloud.auth.principal import Principal, Role, Scope
from cloud.core.time import as_utc, utc_now
from cloud.models import Venue

TOKEN_PREFIX = "yzt_"  # noqa: S105  (a marker telling API tokens from JWTs, not a secret)
_TOKEN_ID_BYTES = 6  # 12 hex characters: an id to find the row by, not a secret
_TOKEN_SECRET_BYTES = 32
# The password hash of an account that signs in by phone only (cloud.worker): not a PHC
# string, so no password can ever match it.
PHONE_ONLY_HASH = "!phone-only"


class AuthStoreError(ValueError):
    """A write the auth store refuses, with a message for the person who asked."""


def hash_password(password: str) -> str:
    return password_hasher().hash(password)


@cache
def _dummy_hash(cost: PasswordCost) -> str:
    """Verified against when the username is unknown, so both failures take the same time."""
    return cost.hasher().hash("not a password anyone has")


def _known_venues(session: Session, venue_ids: Sequence[str]) -> list[str]:
    wanted = sorted(set(venue_ids))
    if not wanted:
        return []
    found = set(session.exec(select(Venue.id).where(col(Venue.id).in_(wanted))))
    missing = [v for v in wanted if v not in found]
    if missing:
        raise AuthStoreError(f"unknown venue ids {missing}; create the venues first")
    return wanted


def _check_role_fields(role: Role, *, member_id: str | None, venue_ids: Sequence[str]) -> None:
    if role is Role.MEMBER and not member_id:
        raise AuthStoreError("a member account needs --member-id: whose data it may see")
    if role is Role.MANAGER and not venue_ids:
        raise AuthStoreError("a manager needs at least one venue to manage")
    if role in (Role.ADMIN, Role.MEMBER) and venue_ids:
        raise AuthStoreError(f"a {role.value} has no venue scope; leave the venues out")
    if role in (Role.SERVICE, Role.INTEGRATION):
        raise AuthStoreError(f"{role.value} is for API tokens; a person is admin, manager, …")


def get_user_by_username(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def user_venue_ids(*, session: Session, user_id: int) -> list[str]:
    rows = session.exec(
        select(UserVenue.venue_id)
        .where(UserVenue.user_id == user_id)
        .order_by(col(UserVenue.venue_id))
    )
    return list(rows)


def _set_user_venues(session: Session, *, user_id: int, venue_ids: list[str]) -> None:
    session.exec(delete(UserVenue).where(col(UserVenue.user_id) == user_id))
    session.add_all(UserVenue(user_id=user_id, venue_id=v) for v in venue_ids)


def create_user(*, session: Session, user_in: UserCreate) -> User:
    venues = _known_venues(session, user_in.venue_ids)
    _check_role_fields(user_in.role, member_id=user_in.member_id, venue_ids=venues)
    if get_user_by_username(session=session, username=user_in.username) is not None:
        raise AuthStoreError(f"the username {user_in.username!r} is taken")
    user = User.model_validate(user_in, update={"password_hash": hash_password(user_in.password)})
    session.add(user)
    session.flush()
    assert user.id is not None  # set by the flush
    _set_user_venues(session, user_id=user.id, venue_ids=venues)
    session.commit()
    session.refresh(user)
    return user


def update_user(*, session: Session, user: User, user_in: UserUpdate) -> User:
    assert user.id is not None
    changes = user_in.model_dump(exclude_unset=True, exclude={"password", "venue_ids"})
    role = changes.get("role", user.role)
    member_id = changes.get("member_id", user.member_id)
    if user_in.venue_ids is not None:
        venues = _known_venues(session, user_in.venue_ids)
    else:
        venues = user_venue_ids(session=session, user_id=user.id)
    _check_role_fields(Role(role), member_id=member_id, venue_ids=venues)
    user.sqlmodel_update(changes)
    if user_in.password is not None:
        user.password_hash = hash_password(user_in.password)
    _set_user_venues(session, user_id=user.id, venue_ids=venues)
    session.add(user)
    session.commit()
    session.refresh(user)
    return user


def set_password(*, session: Session, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    session.add(user)
    session.commit()


def delete_user(*, session: Session, user: User) -> None:
    session.exec(delete(UserVenue).where(col(UserVenue.user_id) == user.id))
    session.delete(user)
    session.commit()


def authenticate(*, session: Session, username: str, password: str) -> User | None:
    """The user if the password is right and the account enabled, else None.

    Unknown user, wrong password and disabled account look the same to the caller.
    """
    user = get_user_by_username(session=session, username=username)
    if user is None:
        password_hasher().verify(password, _dummy_hash(current_password_cost()))
        return None
    if user.password_hash == PHONE_ONLY_HASH:  # the same time as a wrong password
        password_hasher().verify(password, _dummy_hash(current_password_cost()))
        return None
    valid, new_hash = password_hasher().verify_and_update(password, user.password_hash)
    if not valid or user.disabled:
        return None
    if new_hash is not None:  # the KDF parameters were raised since this hash was made
        user.password_hash = new_hash
        session.add(user)
        session.commit()
    return user


def principal_for_user(*, session: Session, user: User) -> Principal:
    assert user.id is not None
    role = Role(user.role)
    venues = frozenset(user_venue_ids(session=session, user_id=user.id))
    if role is Role.ADMIN or (role is Role.TECHNICIAN and not venues):
        scope: frozenset[str] | None = None
    else:
        scope = venues  # a member's is empty: no venue data, only their own
    return Principal(subject=user.username, role=role, venue_ids=scope, member_id=user.member_id)


# --- API tokens ------------------------------------------------------------------------


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    *, session: Session, token_in: ApiTokenCreate, created_by: str
) -> tuple[ApiToken, str]:
    """The stored token and the bearer string to hand over once: ``yzt_<id>.<secret>``."""
    token, bearer = add_api_token(session=session, token_in=token_in, created_by=created_by)
    session.commit()
    session.refresh(token)
    return token, bearer


def add_api_token(
    *, session: Session, token_in: ApiTokenCreate, created_by: str
) -> tuple[ApiToken, str]:
    """Like :func:`create_api_token`, inside the caller's transaction (it commits)."""
    if token_in.role is Role.MEMBER:
        raise AuthStoreError("an API token cannot act as a member; give a member a login")
    venues = _known_venues(session, token_in.venue_ids)
    if token_in.role is Role.MANAGER and not venues:
        raise AuthStoreError("a manager token needs at least one venue")
    if token_in.role is Role.ADMIN and venues:
        raise AuthStoreError("an admin token has no venue scope; leave the venues out")
    if token_in.role is Role.INTEGRATION and not token_in.scopes:
        raise AuthStoreError(
            "an integration token needs its scopes: what it may do, e.g. members:write"
        )
    if token_in.role is not Role.INTEGRATION and token_in.scopes:
        raise AuthStoreError("only an integration token has scopes; leave them out")
    token_id = secrets.token_hex(_TOKEN_ID_BYTES)
    secret = secrets.token_urlsafe(_TOKEN_SECRET_BYTES)
    token = ApiToken.model_validate(
        token_in,
        update={
            "id": token_id,
            "secret_sha256": _sha256(secret),
            "created_by": created_by,
            "scopes": sorted({scope.value for scope in token_in.scopes}),
        },
    )
    session.add(token)
    session.flush()
    session.add_all(ApiTokenVenue(token_id=token_id, venue_id=v) for v in venues)
    session.flush()
    return token, f"{TOKEN_PREFIX}{token_id}.{secret}"


def token_venue_ids(*, session: Session, token_id: str) -> list[str]:
    rows = session.exec(
        select(ApiTokenVenue.venue_id)
        .where(ApiTokenVenue.token_id == token_id)
        .order_by(col(ApiTokenVenue.venue_id))
    )
    return list(rows)


def find_api_token(*, session: Session, presented: str, now: datetime) -> ApiToken | None:
    """The live token ``presented`` is the bearer string of, or None."""
    body = presented.removeprefix(TOKEN_PREFIX)
    token_id, sep, secret = body.partition(".")
    if not presented.startswith(TOKEN_PREFIX) or not sep:
        return None
    token = session.get(ApiToken, token_id)
    if token is None or not hmac.compare_digest(token.secret_sha256, _sha256(secret)):
        return None
    if token.revoked_at is not None:
        return None
    if token.expires_at is not None and as_utc(token.expires_at) <= now:
        return None
    return token


_SCOPES = frozenset(scope.value for scope in Scope)  # a scope a later release dropped: none


def principal_for_token(*, session: Session, token: ApiToken) -> Principal:
    venues = token_venue_ids(session=session, token_id=token.id)
    return Principal(
        subject=f"token:{token.id}",
        role=Role(token.role),
        venue_ids=frozenset(venues) if venues else None,
        scopes=frozenset(Scope(scope) for scope in token.scopes if scope in _SCOPES),
        token_id=token.id,
    )


def revoke_api_token(*, session: Session, token: ApiToken, now: datetime | None = None) -> None:
    if token.revoked_at is None:
        token.revoked_at = now or utc_now()
        session.add(token)
        session.commit()
