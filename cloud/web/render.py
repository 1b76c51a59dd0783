"""Turning a page's data into HTML: the Jinja environment, the shared context, fragments.

A page asked for with ``X-Yizhan-Fragment: 1`` comes back as its ``<main>`` alone: the
live-update script swaps that in when the live feed says something on the page changed,
so one template serves the first load and every refresh.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select

from cloud.alerts.models import Alert
from cloud.api.auth_deps import cookie_principal
from cloud.api.deps import get_state
from cloud.api.errors import ApiError
from cloud.auth.cookie import CSRF_HEADER, SESSION_COOKIE, csrf_token
from cloud.auth.principal import Principal, Role
from cloud.web import words
from cloud.web.i18n import LANG_COOKIE, LANGS, api_errors, pick_lang
from cloud.web.session import WebSession
from cloud.web.state import web_state
from cloud.web.timefmt import local

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"
FRAGMENT_HEADER: Final = "X-Yizhan-Fragment"
ERROR_TEMPLATE: Final = "error.html"
# Everything the pages use is ours: no inline script anywhere (a script injected through
# some data would not run), no framing (the unlock button cannot be click-jacked).
# Inline styles stay allowed: the bars' widths and two pages' small style blocks use them.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
_STAFF: Final = frozenset({Role.ADMIN, Role.MANAGER, Role.TECHNICIAN})
_HEADERS: Final = {
    "Cache-Control": "no-store",
    "Vary": FRAGMENT_HEADER,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def make_templates() -> Jinja2Templates:
    # Autoescape is on for .html (Jinja2Templates' default): venue names and alert texts
    # come from devices and people, and must never become markup.
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    templates.env.filters["local"] = local
    templates.env.globals["LANGS"] = LANGS
    templates.env.globals["CSRF_HEADER"] = CSRF_HEADER
    templates.env.globals.update(words.TEMPLATE_GLOBALS, api_errors=api_errors)
    templates.env.filters.update(words.TEMPLATE_FILTERS)
    return templates


def home_path(principal: Principal | None) -> str:
    """Where the brand and an error page's way back lead: a member's card, staff's overview,
    or the sign-in for nobody (a member sent to / would only meet a "not for you" page)."""
    if principal is None:
        return "/login"
    return "/member" if principal.role is Role.MEMBER else "/"


def _signed_in(request: Request) -> WebSession | None:
    """Who holds this request's sign-in cookie, for pages rendered without a viewer (error
    pages): their header keeps its menu and sign-out, and the way back leads home."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    api = get_state(request)
    try:
        with Session(api.engine) as session:
            principal = cookie_principal(request, session, api, api.clock())
    except (ApiError, SQLAlchemyError):  # lapsed, disabled, or the database is the error
        return None
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    return WebSession(principal=principal, lang=lang, csrf=csrf_token(token, keys=api.auth))


def open_alerts(request: Request, principal: Principal) -> int:
    """Unresolved alerts in the viewer's venues, for the header's bell: one count over the
    unique index of active keys (a resolved alert's active key is NULL)."""
    query = select(func.count()).select_from(Alert).where(col(Alert.active_key).is_not(None))
    venues = principal.venue_filter()
    if venues is not None:
        query = query.where(col(Alert.venue_id).in_(venues))
    with Session(get_state(request).engine) as session:
        return int(session.exec(query).one())


def render(
    request: Request,
    viewer: WebSession | None,
    template: str,
    *,
    status_code: int = 200,
    live: str = "",
    live_gap_ms: int = 1000,
    **context: Any,
) -> HTMLResponse:
    """``template`` with the shared context; ``live`` names the feed topics that refresh it
    (space-separated, e.g. ``"alerts traffic:xuhui-riders"``), at most once per
    ``live_gap_ms``. The error page finds its viewer itself: its handlers run without one."""
    state = web_state(request)
    if viewer is None and template == ERROR_TEMPLATE:
        viewer = _signed_in(request)
    lang = viewer.lang if viewer else pick_lang(request.cookies.get(LANG_COOKIE))
    principal = viewer.principal if viewer else None
    staff = principal is not None and principal.role in _STAFF

    def t(key: str, **values: object) -> str:
        return state.catalog.text(lang, key, **values)

    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    # A fragment is <main> alone: the header (and its bell) is not re-rendered.
    bell = open_alerts(request, principal) if principal and staff and not fragment else 0
    return state.templates.TemplateResponse(
        request,
        template,
        {
            "layout": "fragment.html" if fragment else "base.html",
            "viewer": viewer,
            "principal": principal,
            "staff": staff,
            "home": home_path(principal),
            "open_alerts": bell,
            "lang": lang,
            "t": t,
            "live": live,
            "live_gap_ms": live_gap_ms,
            **context,
        },
        status_code=status_code,
        headers=_HEADERS,
    )
