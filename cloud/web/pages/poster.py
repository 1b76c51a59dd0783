"""A venue's walk-in poster, ready to print: a QR that opens the worker app's sign-up.

The QR holds the absolute address ``/m/join/<venue>?p=<tag>``; the tag is keyed on the venue
and its ``poster_edition`` (cloud.worker.identity), so nobody can make a poster for a venue,
and renewing the poster (``POST /api/v1/venues/{id}/poster/renew``, an admin's button here)
retires every copy printed before. A venue's admin and manager may print it.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cloud.api.auth_deps import scoped_venue
from cloud.api.deps import SessionDep, StateDep
from cloud.models import Venue
from cloud.web.i18n import Messages
from cloud.web.qr import qr_svg
from cloud.web.render import render
from cloud.web.session import Manager
from cloud.worker.identity import WorkerKeys

router = APIRouter(include_in_schema=False)

TEXT: Final[Messages] = {
    "poster.page_title": ("入场海报", "Walk-in poster"),
    "poster.title": ("新朋友扫码入站", "First time here? Scan to get in"),
    "poster.what": (
        "用手机扫码，填写手机号登记，即可领取访客通行证，凭码开门入站休息。",
        "Scan with your phone, register with your phone number, and get a guest pass.",
    ),
    "poster.free": ("免费 · 面向所有户外劳动者", "Free · for every outdoor worker"),
    "poster.print": (
        "用浏览器的“打印”（Ctrl+P）打印本页，建议 A4 纸、100% 缩放。",
        "Print this page with the browser's Print (Ctrl+P), on A4 at 100 %.",
    ),
    "poster.back": ("返回阵地", "Back to the venue"),
    "poster.edition": ("海报版本 {n}", "Poster edition {n}"),
    "poster.renew": ("作废旧海报并换新", "Retire the printed posters"),
    "poster.renew_confirm": (
        "已打印的海报将全部失效，扫码会提示无效。确定吗？",
        "Every poster printed so far stops working (scanning one says it is not valid). Go on?",
    ),
    "poster.renewed": ("已换新，请打印新海报", "Done: print the new poster"),
}


def poster_path(venue: Venue, *, pseudonym_key: bytes) -> str:
    """Where the venue's current poster sends a phone, from the site's root."""
    tag = WorkerKeys.derive(pseudonym_key).poster_tag(venue.id, venue.poster_edition)
    return f"/m/join/{quote(venue.id, safe='')}?p={tag}"


@router.get("/venues/{venue_id}/poster", response_class=HTMLResponse)
def poster_page(
    *,
    venue_id: str,
    request: Request,
    viewer: Manager,
    session: SessionDep,
    state: StateDep,
) -> HTMLResponse:
    venue = scoped_venue(session=session, principal=viewer.principal, venue_id=venue_id)
    # The address the browser reached us at: behind a proxy, the one it forwards (uvicorn's
    # --proxy-headers), so the printed QR names the public host, not an internal one.
    url = str(request.base_url).rstrip("/") + poster_path(
        venue, pseudonym_key=state.auth.pseudonym_key
    )
    # qr_svg escapes its label and writes only numbers otherwise: safe to put in as markup.
    qr = qr_svg(url, label=venue.name)  # our own SVG: paths, and the name escaped
    return render(request, viewer, "poster.html", venue=venue, url=url, qr=qr)
