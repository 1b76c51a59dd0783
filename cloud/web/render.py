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
    **context: Any,
) -> HTMLResponse:
    """``template`` with the shared context; ``live`` names the feed topics that refresh it
    (space-separated, e.g. ``"alerts venue:xuhui-riders"``)."""
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
            **context,
        },
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Vary": FRAGMENT_HEADER},
    )
