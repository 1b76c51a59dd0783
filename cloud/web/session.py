"""Who is looking at a page: the sign-in cookie turned into a principal, or a trip to /login."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from cloud.api.auth_deps import current_principal
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.api.errors import ApiError
from cloud.auth.cookie import SESSION_COOKIE, csrf_token
from cloud.auth.principal import Principal, Role
from cloud.web.i18n import LANG_COOKIE, Lang, pick_lang


class SignInRequired(Exception):  # noqa: N818  (a redirect, not an error)
    """No cookie, or one that no longer works: the page sends the browser to /login."""

    def __init__(self, next_path: str, *, expired: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


class PageForbidden(Exception):  # noqa: N818  (answered with a page, not raised further)
    """A signed-in person whose role may not see this page."""


@dataclass(frozen=True, slots=True)
class WebSession:
    principal: Principal
    lang: Lang
    csrf: str


def login_url(next_path: str, *, expired: bool = False) -> str:
    url = f"/login?next={quote(next_path, safe='/')}"
    return url + "&expired=1" if expired else url


def _next_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def web_session(request: Request, state: StateDep, session: SessionDep, now: NowDep) -> WebSession:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(_next_path(request), expired=False)
    try:
        # The API's own check, cookie branch: one place decides who a cookie belongs to.
        principal = current_principal(request, state, session, now, None)
    except ApiError as exc:
        raise SignInRequired(_next_path(request), expired=True) from exc
    return WebSession(
        principal=principal,
        lang=pick_lang(request.cookies.get(LANG_COOKIE)),
        csrf=csrf_token(token, keys=state.auth),
    )


Viewer = Annotated[WebSession, Depends(web_session)]


def page_roles(*roles: Role) -> Callable[[WebSession], WebSession]:
    """A page only ``roles`` may open; anyone else signed in gets a "not for your role" page."""
    allowed = frozenset(roles)

    def check(viewer: Viewer) -> WebSession:
        if viewer.principal.role not in allowed:
            raise PageForbidden
        return viewer

    return check


STAFF = (Role.ADMIN, Role.MANAGER, Role.TECHNICIAN)
Staff = Annotated[WebSession, Depends(page_roles(*STAFF))]
Technician = Annotated[WebSession, Depends(page_roles(Role.ADMIN, Role.TECHNICIAN))]
# Those who run a venue's rooms and activities (a manager in their own venues only).
Manager = Annotated[WebSession, Depends(page_roles(Role.ADMIN, Role.MANAGER))]
Admin = Annotated[WebSession, Depends(page_roles(Role.ADMIN))]
Member = Annotated[WebSession, Depends(page_roles(Role.MEMBER))]
