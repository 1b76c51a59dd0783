"""Composition of the dashboard: its state, static files, pages and error pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.api.errors import ApiError
from cloud.core.time import Clock
from cloud.web import account
from cloud.web import worker as worker_app
from cloud.web.i18n import COMMON, Catalog, Messages
from cloud.web.live import LiveFeed
from cloud.web.pages import PAGES
from cloud.web.render import FRAGMENT_HEADER, STATIC_DIR, make_templates, render
from cloud.web.session import PageForbidden, SignInRequired, login_url
from cloud.web.state import WebState
from cloud.web.static_files import VersionedStaticFiles
from protocol.membercode import IssuerKey

# Paths whose errors stay JSON: programs call them, not people.
_JSON_PREFIXES: Final = ("/api/", "/healthz", "/metrics", "/docs", "/openapi.json")


def _for_people(request: Request) -> bool:
    return not request.url.path.startswith(_JSON_PREFIXES)


def _on_sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.headers.get(FRAGMENT_HEADER) == "1" or request.url.path == "/live":
        # A background refresh cannot follow a redirect to a form; the script reloads.
        return Response(status_code=401)
    return RedirectResponse(login_url(exc.next_path, expired=exc.expired), status_code=303)


def _on_forbidden(request: Request, _exc: Exception) -> Response:
    return render(request, None, "error.html", status_code=403, title="error.forbidden", detail="")


JsonHandler = Callable[[Request, Any], Response | Awaitable[Response]]


async def _answer(handler: JsonHandler, request: Request, exc: Exception) -> Response:
    answer = handler(request, exc)
    return answer if isinstance(answer, Response) else await answer


def _people_first(json_handler: JsonHandler) -> JsonHandler:
    """An API error on a page is an error page; on /api it stays the API's JSON."""

    async def handle(request: Request, exc: Exception) -> Response:
        if not _for_people(request):
            return await _answer(json_handler, request, exc)
        if isinstance(exc, ApiError):
            status, detail = exc.status_code, exc.message
        elif isinstance(exc, RequestValidationError):
            status, detail = 422, "the address has a value this page cannot use"
        elif isinstance(exc, StarletteHTTPException):
            status, detail = exc.status_code, ""
        else:  # the API's catch-all logs it; a person gets a page, not a traceback
            await _answer(json_handler, request, exc)
            status, detail = 500, ""
        title = "error.not_found" if status in (404, 405) else "common.error"
        return render(request, None, "error.html", status_code=status, title=title, detail=detail)

    return handle


def install_web(
    app: FastAPI,
    *,
    engine: Engine,
    clock: Clock,
    secure_cookies: bool,
    issuer: IssuerKey | None = None,
    quiet_hour: int | None = 4,
    live_interval_s: float = 1.0,
    session_minutes: int = 12 * 60,
) -> WebState:
    """Mount the dashboard on ``app`` (after the API's error handlers are installed)."""
    messages: list[Messages] = [COMMON, *(page.TEXT for page in PAGES), worker_app.TEXT]
    state = WebState(
        templates=make_templates(),
        catalog=Catalog.merged(messages),
        live=LiveFeed(engine, clock=clock, interval_s=live_interval_s),
        secure_cookies=secure_cookies,
        issuer=issuer,
        quiet_hour=quiet_hour,
        session_minutes=session_minutes,
    )
    app.state.web = state
    static = VersionedStaticFiles(directory=STATIC_DIR)
    # Templates link static files by content hash, so browsers may keep them for a year.
    state.templates.env.globals["static_url"] = static.url
    app.mount("/static", static, name="static")
    app.include_router(account.router)
    for page in PAGES:
        app.include_router(page.router)
    app.add_exception_handler(SignInRequired, _on_sign_in_required)
    app.add_exception_handler(PageForbidden, _on_forbidden)
    for exc_type in (ApiError, RequestValidationError, StarletteHTTPException, Exception):
        handler = app.exception_handlers[exc_type]
        app.add_exception_handler(exc_type, _people_first(handler))
    return state
