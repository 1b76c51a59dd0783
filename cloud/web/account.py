"""Signing in and out, switching language, and the live feed's event stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.auth import store
from cloud.auth.cookie import SESSION_COOKIE, csrf_ok
from cloud.auth.login import LoginGuardDep
from cloud.auth.login import authenticate as guarded_authenticate
from cloud.auth.principal import Role
from cloud.auth.throttle import LoginRefusedError
from cloud.auth.tokens import issue_access_token
from cloud.web.i18n import LANG_COOKIE, LANGS, pick_lang
from cloud.web.live import topics_for
from cloud.web.render import render
from cloud.web.session import Viewer
from cloud.web.state import web_state

router = APIRouter(include_in_schema=False)
_KEEPALIVE_S: Final = 15.0  # proxies close an idle stream after 30-60 s
_YEAR_S: Final = 365 * 86_400


def safe_next(target: str | None, fallback: str = "/") -> str:
    """Only a path on this site: ``//evil.example`` or ``https://…`` would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return fallback
    return target


def home_for(role: Role) -> str:
    return "/member" if role is Role.MEMBER else "/"


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", expired: bool = False) -> Response:  # noqa: A002
    return render(request, None, "login.html", next=safe_next(next), error=None, expired=expired)


@router.post("/login", response_class=HTMLResponse)
def login(
    *,
    request: Request,
    session: SessionDep,
    state: StateDep,
    guard: LoginGuardDep,
    now: NowDep,
    username: Annotated[str, Form(max_length=120)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",  # noqa: A002
) -> Response:
    try:
        user = guarded_authenticate(
            request, guard=guard, session=session, username=username, password=password
        )
    except LoginRefusedError as exc:
        return _refused_page(request, exc, next_path=next, username=username)
    if user is None:
        return render(
            request,
            None,
            "login.html",
            status_code=401,
            next=safe_next(next),
            error="login.failed",
            expired=False,
            username=username,
        )
    principal = store.principal_for_user(session=session, user=user)
    web = web_state(request)
    token = issue_access_token(principal, keys=state.auth, now=now, minutes=web.session_minutes)
    target = safe_next(next, home_for(principal.role))
    if target == "/" and principal.role is Role.MEMBER:
        target = "/member"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=web.session_minutes * 60,
        httponly=True,
        samesite="lax",
        secure=web.secure_cookies,
        path="/",
    )
    return response


def _refused_page(
    request: Request, exc: LoginRefusedError, *, next_path: str, username: str
) -> Response:
    """The sign-in form again, saying when to retry (429 locked, 503 busy)."""
    page = render(
        request,
        None,
        "login.html",
        status_code=exc.status,
        next=safe_next(next_path),
        # Already in the reader's language; t() shows a text that is not a key as it is.
        error=exc.text(pick_lang(request.cookies.get(LANG_COOKIE))),
        expired=False,
        username=username,
    )
    page.headers["Retry-After"] = str(exc.retry_after_s)
    return page


@router.post("/logout")
def logout(
    request: Request, state: StateDep, csrf: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    """Forget the sign-in; only from our own page (another site cannot sign a desk out)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and not csrf_ok(token, csrf, keys=state.auth):
        return RedirectResponse("/", status_code=303)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
def switch_language(request: Request, lang: str, next: str = "/") -> Response:  # noqa: A002
    """Remembered in a cookie (a year); works before signing in too."""
    chosen = lang if lang in LANGS else pick_lang(None)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        chosen,
        max_age=_YEAR_S,
        samesite="lax",
        secure=web_state(request).secure_cookies,
        path="/",
    )
    return response


@router.get("/live")
async def live(request: Request, viewer: Viewer) -> StreamingResponse:
    """Server-sent events: ``change`` with the topics that moved in the viewer's venues."""
    feed = web_state(request).live
    scope = viewer.principal.venue_filter()

    async def events() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        async with feed.subscription() as queue:
            while True:
                try:
                    changed = await asyncio.wait_for(queue.get(), timeout=_KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                topics = topics_for(changed, scope)
                if topics:
                    yield f"event: change\ndata: {json.dumps({'topics': topics})}\n\n"

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        # No proxy buffering: nginx would hold the events until its buffer fills.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
