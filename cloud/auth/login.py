"""Checking a username and password behind the login guard: the step both login routes take
(the API's token route and the dashboard's sign-in form)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import User
from cloud.auth.throttle import LoginAttempt, LoginGuard


def login_guard(request: Request) -> LoginGuard:
    """The app's guard, which create_app builds from settings.auth.login."""
    guard: LoginGuard = request.app.state.login_guard
    return guard


LoginGuardDep = Annotated[LoginGuard, Depends(login_guard)]


def authenticate(
    request: Request, *, guard: LoginGuard, session: Session, username: str, password: str
) -> User | None:
    """The user if the password is right (as store.authenticate), counted by ``guard``.

    Raises LoginRefusedError (429 locked, 503 busy) before hashing anything. The address is
    the one uvicorn gives: X-Forwarded-For counts only from FORWARDED_ALLOW_IPS, the proxy
    (cloud.service.api_server), so a client cannot pick an address of its own.
    """
    attempt = LoginAttempt.of(username, request.client.host if request.client else None)
    with guard.checking(attempt):
        user = store.authenticate(session=session, username=username, password=password)
    if user is None:
        guard.failed(attempt)
    else:
        guard.succeeded(attempt)
    return user
