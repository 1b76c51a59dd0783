"""The dashboard's runtime state, built once by install_web and read by the page routes."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.templating import Jinja2Templates

from cloud.web.i18n import Catalog
from cloud.web.live import LiveFeed
from protocol.membercode import IssuerKey


@dataclass(frozen=True, slots=True)
class WebState:
    templates: Jinja2Templates
    catalog: Catalog
    live: LiveFeed
    # Mark the cookies Secure: the site is served over HTTPS (production, or behind a proxy).
    secure_cookies: bool
    # Mints the member page's rotating code; None when member codes come from the union app.
    issuer: IssuerKey | None
    # Lifetime of a dashboard sign-in (its cookie and the JWT in it), in minutes.
    session_minutes: int
    # The local hour occupancy resets (JobSettings.occupancy_quiet_hour) for live counts.
    quiet_hour: int | None


def web_state(request: Request) -> WebState:
    state = request.app.state.web
    if not isinstance(state, WebState):
        raise TypeError("app.state.web is not a WebState; build the app with create_app()")
    return state
