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

from cloud.auth.cookie import CSRF_HEADER
from cloud.web.i18n import LANG_COOKIE, LANGS, pick_lang
from cloud.web.session import WebSession
from cloud.web.state import web_state
from cloud.web.timefmt import local

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"
FRAGMENT_HEADER: Final = "X-Yizhan-Fragment"
# Everything the pages use is ours: no inline script anywhere (a script injected through
# some data would not run), no framing (the unlock button cannot be click-jacked).
# Inline styles stay allowed: the bars' widths and two pages' small style blocks use them.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
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
    return templates


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
    ``live_gap_ms``."""
    state = web_state(request)
    lang = viewer.lang if viewer else pick_lang(request.cookies.get(LANG_COOKIE))

    def t(key: str, **values: object) -> str:
        return state.catalog.text(lang, key, **values)

    fragment = request.headers.get(FRAGMENT_HEADER) == "1"
    return state.templates.TemplateResponse(
        request,
        template,
        {
            "layout": "fragment.html" if fragment else "base.html",
            "viewer": viewer,
            "principal": viewer.principal if viewer else None,
            "lang": lang,
            "t": t,
            "live": live,
            "live_gap_ms": live_gap_ms,
            **context,
        },
        status_code=status_code,
        headers=_HEADERS,
    )
