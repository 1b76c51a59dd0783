"""``/api/v1/auth``: log in for a JWT; users and API tokens (admin only); who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlmodel import Session, col, func, select

from cloud.api.auth_deps import CurrentPrincipal, require_roles, unauthorized
from cloud.api.deps import NowDep, Offset, RowId, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.auth import store
from cloud.auth.login import LoginGuardDep
from cloud.auth.login import authenticate as guarded_authenticate
from cloud.auth.models import (
    ApiToken,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    ApiTokensPublic,
    User,
    UserCreate,
    UserPublic,
    UsersPublic,
    UserUpdate,
)
from cloud.auth.principal import Role
from cloud.auth.throttle import LoginRefusedError
from cloud.auth.tokens import issue_access_token

# Outside the guarded router: logging in is how a caller gets a credential.
login_router = APIRouter(prefix="/auth", tags=["auth"])
router = APIRouter(prefix="/auth", tags=["auth"])
_admin = [Depends(require_roles(Role.ADMIN))]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


class AccessToken(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, RFC 6750)
    expires_in: int  # seconds


class PrincipalPublic(BaseModel):
    subject: str
    role: Role
    venue_ids: list[str] | None
    member_id: str | None


def login_refused(exc: LoginRefusedError) -> ApiError:
    """A throttled or busy login: both languages, since a person often reads it off a tool."""
    return ApiError(
        exc.status,
        code=exc.code,
        message=f"{exc.text('en')} ({exc.text('zh-CN')})",
        headers={"Retry-After": str(exc.retry_after_s)},
    )


_LOGIN_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (401, 429, 503)
}


@login_router.post("/token", responses=_LOGIN_ERRORS)
def login(
    *,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    state: StateDep,
    guard: LoginGuardDep,
    now: NowDep,
) -> AccessToken:
    """OAuth2 password flow: form fields ``username`` and ``password`` give a bearer JWT.

    After too many failures for the account or from the address: 429 with Retry-After
    (cloud.auth.settings.LoginLimits); when every hashing slot is busy: 503, retry shortly.
    """
    try:
        user = guarded_authenticate(
            request, guard=guard, session=session, username=form.username, password=form.password
        )
    except LoginRefusedError as exc:
        raise login_refused(exc) from exc
    if user is None:
        # One message for unknown user, wrong password and disabled account alike.
        raise unauthorized("wrong username or password")
    principal = store.principal_for_user(session=session, user=user)
    token = issue_access_token(principal, keys=state.auth, now=now)
    return AccessToken(access_token=token, expires_in=state.auth.jwt_minutes * 60)


@router.get("/me")
def read_me(principal: CurrentPrincipal) -> PrincipalPublic:
    """Who this credential is and what it may see; any role."""
    venues = None if principal.venue_ids is None else sorted(principal.venue_ids)
    return PrincipalPublic(
        subject=principal.subject,
        role=principal.role,
        venue_ids=venues,
        member_id=principal.member_id,
    )


def _refused(exc: store.AuthStoreError) -> ApiError:
    return ApiError(
        422,
        code="invalid_request",
        message=f"the request is invalid ({exc})",
        details=[field_error("body", str(exc))],
    )


def _user_public(session: Session, user: User) -> UserPublic:
    assert user.id is not None
    venues = store.user_venue_ids(session=session, user_id=user.id)
    return UserPublic.model_validate(user, update={"venue_ids": venues})


def _user_or_404(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise ApiError(404, code="user_not_found", message=f"there is no user {user_id}")
    return user


@router.get("/users", dependencies=_admin)
def list_users(
    *,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> UsersPublic:
    count = session.exec(select(func.count()).select_from(User)).one()
    users = session.exec(select(User).order_by(col(User.id)).offset(offset).limit(limit))
    return UsersPublic(data=[_user_public(session, u) for u in users], count=count)


@router.post("/users", status_code=201, dependencies=_admin)
def create_user(*, session: SessionDep, user_in: UserCreate) -> UserPublic:
    try:
        user = store.create_user(session=session, user_in=user_in)
    except store.AuthStoreError as exc:
        raise _refused(exc) from exc
    return _user_public(session, user)


@router.get("/users/{user_id}", dependencies=_admin, responses=_NOT_FOUND)
def read_user(*, session: SessionDep, user_id: RowId) -> UserPublic:
    return _user_public(session, _user_or_404(session, user_id))


@router.patch("/users/{user_id}", dependencies=_admin, responses=_NOT_FOUND)
def update_user(*, session: SessionDep, user_id: RowId, user_in: UserUpdate) -> UserPublic:
    user = _user_or_404(session, user_id)
    try:
        user = store.update_user(session=session, user=user, user_in=user_in)
    except store.AuthStoreError as exc:
        raise _refused(exc) from exc
    return _user_public(session, user)


@router.delete("/users/{user_id}", status_code=204, dependencies=_admin, responses=_NOT_FOUND)
def delete_user(*, session: SessionDep, user_id: RowId, principal: CurrentPrincipal) -> None:
    user = _user_or_404(session, user_id)
    if user.username == principal.subject:
        raise ApiError(409, code="conflict", message="you cannot delete your own account")
    store.delete_user(session=session, user=user)


def _token_public(session: Session, token: ApiToken) -> ApiTokenPublic:
    venues = store.token_venue_ids(session=session, token_id=token.id)
    return ApiTokenPublic.model_validate(token, update={"venue_ids": venues})


@router.get("/tokens", dependencies=_admin)
def list_api_tokens(
    *,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> ApiTokensPublic:
    count = session.exec(select(func.count()).select_from(ApiToken)).one()
    query = select(ApiToken).order_by(col(ApiToken.created_at), col(ApiToken.id))
    tokens = session.exec(query.offset(offset).limit(limit))
    return ApiTokensPublic(data=[_token_public(session, t) for t in tokens], count=count)


@router.post("/tokens", status_code=201, dependencies=_admin)
def create_api_token(
    *, session: SessionDep, token_in: ApiTokenCreate, principal: CurrentPrincipal
) -> ApiTokenCreated:
    """The ``token`` in the answer is shown this once; store it in the integration now."""
    try:
        token, secret = store.create_api_token(
            session=session, token_in=token_in, created_by=principal.subject
        )
    except store.AuthStoreError as exc:
        raise _refused(exc) from exc
    public = _token_public(session, token)
    return ApiTokenCreated.model_validate(public, update={"token": secret})


@router.delete("/tokens/{token_id}", dependencies=_admin, responses=_NOT_FOUND)
def revoke_api_token(
    *, session: SessionDep, state: StateDep, token_id: str, now: NowDep
) -> ApiTokenPublic:
    """Revoked at once; the row stays so the audit trail keeps who had it."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ApiError(404, code="token_not_found", message=f"there is no API token {token_id!r}")
    store.revoke_api_token(session=session, token=token, now=now)
    state.tokens.clear()  # at once here; other API processes within TokenCache's TTL
    return _token_public(session, token)
