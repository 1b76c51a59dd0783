"""Dependencies of the API routes: the runtime state, a database session, the auth check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.errors import ApiError
from cloud.api.state import ApiState

_bearer = HTTPBearer(
    auto_error=False,
    description="The token set in YZ_CLOUD_API_TOKEN on the cloud.",
)


def get_state(request: Request) -> ApiState:
    state = request.app.state.api
    if not isinstance(state, ApiState):  # only when an app was not built by create_app
        raise TypeError("app.state.api is not an ApiState; build the app with create_app()")
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_engine(state: StateDep) -> Engine:
    return state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_session(state: StateDep) -> Iterator[Session]:
    with Session(state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_now(state: StateDep) -> datetime:
    return state.clock()


NowDep = Annotated[datetime, Depends(get_now)]


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        code="unauthorized",
        message=message,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_api_token(
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the request through only with ``Authorization: Bearer <the API token>``.

    When no token is configured (development only; production refuses to start without
    one, see CloudSettings.require_api_token) every request is let through.
    """
    if state.api_token is None:
        return
    if credentials is None:
        raise _unauthorized(
            "this API needs an 'Authorization: Bearer <token>' header; "
            "ask the operator for the token set in YZ_CLOUD_API_TOKEN"
        )
    # Constant-time on bytes: a str compare leaks the matching prefix length through timing,
    # and compare_digest refuses non-ASCII str.
    given = credentials.credentials.encode()
    expected = state.api_token.get_secret_value().encode()
    if not hmac.compare_digest(given, expected):
        raise _unauthorized(
            "the bearer token is not the one this server expects; "
            "check YZ_CLOUD_API_TOKEN with the operator"
        )
