"""Who is holding the phone: a signed-in worker, or someone who has not signed in yet.

A worker signs in with the dashboard's own cookie (a member principal's JWT), so the
bookings API and the member page know them too; the account is checked on every request,
so deleting it signs every phone out at once. The pages that need a worker send anyone
else to /m/signin and back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import Depends, Form, Request
from fastapi.responses import Response

from cloud.api.auth_deps import cookie_principal
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.api.errors import ApiError
from cloud.auth.cookie import SESSION_COOKIE, csrf_ok, csrf_token
from cloud.auth.principal import Principal, Role
from cloud.auth.tokens import issue_access_token
from cloud.core.time import as_utc
from cloud.web.i18n import LANG_COOKIE, Lang, pick_lang
from cloud.web.state import web_state
from cloud.worker import accounts
from cloud.worker.models import Worker

# A worker stays signed in on their phone for a month: nobody wants a text at the door.
SESSION_DAYS: Final = 30


class WorkerSignInRequired(Exception):  # noqa: N818  (a redirect, not an error)
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class Holder:
    """The person at the phone: ``worker`` once signed in, else None."""

    lang: Lang
    principal: Principal | None
    worker: Worker | None
    csrf: str


def _holder(request: Request, state: StateDep, session: SessionDep, now: NowDep) -> Holder:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return Holder(lang, None, None, "")
    try:
        principal = cookie_principal(request, session, state, now)
    except ApiError:
        return Holder(lang, None, None, "")
    worker = None
    if principal.role is Role.MEMBER:
        worker = accounts.by_username(session, principal.subject)
    if worker is not None and (
        worker.last_seen_at is None
        or as_utc(now) - as_utc(worker.last_seen_at) > timedelta(hours=1)
    ):
        worker.last_seen_at = as_utc(now)  # hourly is enough for "inactive since"
        session.add(worker)
        session.commit()
        session.refresh(worker)
    return Holder(lang, principal, worker, csrf_token(token, keys=state.auth))


AnyHolder = Annotated[Holder, Depends(_holder)]


def _signed_in(request: Request, holder: AnyHolder) -> Holder:
    if holder.worker is None:
        query = request.url.query
        raise WorkerSignInRequired(request.url.path + (f"?{query}" if query else ""))
    return holder


SignedIn = Annotated[Holder, Depends(_signed_in)]


class CrossSiteRefused(Exception):  # noqa: N818  (answered with a page)
    """A form posted to /m/ from another site."""


def same_site_only(request: Request) -> None:
    """Refuse a change posted from another site, signed in or not.

    The sign-in forms have no session to tie a CSRF token to: a page elsewhere could make
    its visitors' browsers ask for texts (spending the union's money from many addresses)
    or sign them in as the attacker. Browsers say where a request came from (Sec-Fetch-Site,
    Origin); a request that says another site is refused, one that says nothing (an old
    browser, a script) is left to the other checks.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CrossSiteRefused
    origin = request.headers.get("origin")
    if origin and origin != "null":
        ours = f"{request.url.scheme}://{request.url.netloc}"
        forwarded = request.headers.get("host")
        if origin not in (ours, f"https://{forwarded}", f"http://{forwarded}"):
            raise CrossSiteRefused
    elif origin == "null":
        raise CrossSiteRefused


class StaleForm(Exception):  # noqa: N818  (answered with a page)
    """A signed-in worker's form without the CSRF field of the page that made it."""


def _signed_form(
    request: Request, holder: SignedIn, csrf: Annotated[str, Form(max_length=64)] = ""
) -> Holder:
    if not form_ok(request, holder, csrf):
        raise StaleForm
    return holder


# A change a signed-in worker posts from our own page: the CSRF field is checked once, here.
SignedForm = Annotated[Holder, Depends(_signed_form)]


def signin_url(next_path: str) -> str:
    return f"/m/signin?next={quote(next_path, safe='/')}"


def safe_next(target: str | None) -> str:
    """Only our own worker pages: never another site, never the staff dashboard."""
    if target and target.startswith("/m/") and not target.startswith("//"):
        return target
    return "/m/code"


def form_ok(request: Request, holder: Holder, presented: str) -> bool:
    """A change posted by our own page (its CSRF field matches the sign-in cookie)."""
    token = request.cookies.get(SESSION_COOKIE)
    state = request.app.state.api
    if not token or holder.worker is None:
        return False
    return csrf_ok(token, presented, keys=state.auth)


def sign_in(response: Response, request: Request, worker: Worker, *, now: datetime) -> None:
    state = request.app.state.api
    principal = Principal(subject=worker.username, role=Role.MEMBER, member_id=worker.member_id)
    minutes = SESSION_DAYS * 24 * 60
    token = issue_access_token(principal, keys=state.auth, now=now, minutes=minutes)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=minutes * 60,
        httponly=True,
        samesite="lax",
        secure=web_state(request).secure_cookies,
        path="/",
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
