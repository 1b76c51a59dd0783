"""The member page: my rotating door code, my points, my bookings and activities; nobody
else's.

Every read is keyed by the signed-in member's own ``member_id``; no parameter names a
member (the address only chooses a venue, a room and a day to book). The code is minted by
``GET /member/code`` (JSON, never cached) with the dashboard's issuer key, and member.js
fetches a fresh one before the last one expires. Booking, cancelling, signing up and
withdrawing call the bookings API with the sign-in cookie (member_booking.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlmodel import Session, col, select

from cloud.access.models import Booking
from cloud.aggregates.timezones import DEFAULT_ZONE
from cloud.api.deps import NowDep, SessionDep
from cloud.api.errors import error_response
from cloud.bookings.activities import ATTEND_EARLY
from cloud.bookings.models import Room
from cloud.core.time import as_utc
from cloud.members import codes
from cloud.models import Venue
from cloud.points.statement import EntryPublic, member_balance, member_entries
from cloud.web.i18n import Lang, Messages
from cloud.web.pages import member_booking
from cloud.web.pages.booking_words import member_reasons
from cloud.web.qr import qr_svg
from cloud.web.render import render
from cloud.web.session import Member, PageForbidden
from cloud.web.state import web_state

router = APIRouter(include_in_schema=False)
RECENT_ENTRIES: Final = 20
UPCOMING_BOOKINGS: Final = 20
PAST_BOOKINGS: Final = 10
# Points are the union's, not a venue's: the statement is shown in China time.
STATEMENT_ZONE: Final = DEFAULT_ZONE
_NO_STORE: Final = {"Cache-Control": "no-store"}
# Ledger posting kinds a member's statement shows (cloud.points); others show as they are.
ENTRY_KINDS: Final = frozenset(
    {
        "checkin",
        "activity",
        "grant",
        "expiry",
        "redeem_reserve",
        "redeem_commit",
        "redeem_cancelled",
        "redeem_expired",
    }
)

_OWN: Final[Messages] = {
    "member.title": ("我的会员卡", "My member card"),
    "member.code": ("入场码", "Door code"),
    "member.code_hint": (
        "在驿站门口扫码入场。码会自动更新，请勿截图。",
        "Show this at the venue door. It renews itself; a screenshot stops working.",
    ),
    "member.code_loading": ("正在生成入场码…", "Making your code…"),
    "member.code_expires": ("{s} 秒后更新", "renews in {s} s"),
    "member.code_failed": ("入场码暂时无法更新，正在重试", "Could not renew the code; retrying"),
    "member.code_noscript": ("入场码需要开启 JavaScript", "The door code needs JavaScript"),
    "member.code_app": (
        "入场码请在工会 App 中出示。",
        "Your door code is in the union app: open it there.",
    ),
    "member.no_issuer": (
        "此网站不发放入场码，请使用工会 App。",
        "This site does not issue door codes; use the union app.",
    ),
    "member.revoked": (
        "您的会员资格已暂停，无法生成入场码。如有疑问请联系工会。",
        "Your membership is suspended, so no door code can be issued. Ask the union.",
    ),
    "member.unknown": (
        "工会会员名单中还没有您的记录，暂时无法生成入场码。请联系工会。",
        "The union's member list does not have you yet, so no code can be issued. Ask the union.",
    ),
    "member.lapsed": (
        "您的会员资格已到期，无法生成入场码。请在工会 App 中续期。",
        "Your membership has lapsed, so no door code can be issued. Renew it in the union app.",
    ),
    "member.code_error": ("无法生成入场码：{detail}", "No door code could be made: {detail}"),
    "member.balance": ("积分余额", "Points balance"),
    "member.points": ("{n} 分", "{n} points"),
    "member.entries": ("最近积分记录", "Recent points"),
    "member.when": ("时间", "When"),
    "member.what": ("事项", "What"),
    "member.amount": ("积分", "Points"),
    "member.no_entries": ("还没有积分记录", "No points yet"),
    "member.bookings": ("我的预约", "My bookings"),
    "member.venue": ("阵地", "Venue"),
    "member.room": ("房间", "Room"),
    "member.starts": ("开始", "Starts"),
    "member.ends": ("结束", "Ends"),
    "member.state": ("状态", "State"),
    "member.upcoming": ("即将开始", "Upcoming"),
    "member.past": ("已结束", "Past"),
    "member.cancelled": ("已取消", "Cancelled"),
    "member.no_bookings": ("没有预约", "No bookings"),
    "member.entry.checkin": ("签到", "Check-in"),
    "member.entry.activity": ("参加活动", "Activity"),
    "member.entry.grant": ("工会发放", "Granted by the union"),
    "member.entry.expiry": ("积分过期", "Points expired"),
    "member.entry.redeem_reserve": ("兑换商品", "Kiosk redemption"),
    "member.entry.redeem_commit": ("兑换商品（补扣）", "Kiosk redemption (settled late)"),
    "member.entry.redeem_cancelled": ("兑换取消，积分退回", "Redemption cancelled, points back"),
    "member.entry.redeem_expired": ("兑换超时，积分退回", "Redemption timed out, points back"),
}
TEXT: Final[Messages] = {**_OWN, **member_booking.TEXT}


@dataclass(frozen=True, slots=True)
class BookingRow:
    booking: Booking
    venue: Venue | None
    room: Room | None  # None for a booking the union's system made by door
    upcoming: bool

    @property
    def timezone(self) -> str | None:
        return self.venue.timezone if self.venue else None

    @property
    def cancellable(self) -> bool:
        return self.upcoming and not self.booking.cancelled


# The member page's words for the refusals of cloud.members.codes, by their API code.
_REFUSAL_TEXT: Final = {
    "member_unknown": "member.unknown",
    "member_revoked": "member.revoked",
    "membership_expired": "member.lapsed",
    "code_refused": "member.code_error",
}


class CodeRefused(Exception):  # noqa: N818  (an answer for the member, not a fault)
    """No code for this member: ``key`` names the message, ``status`` the HTTP answer."""

    def __init__(self, status: int, code: str, key: str, **values: object) -> None:
        super().__init__(key)
        self.status, self.code, self.key, self.values = status, code, key, values

    @classmethod
    def of(cls, refused: codes.CodeRefused) -> CodeRefused:
        detail = refused.message.removeprefix("no code could be made: ")
        return cls(refused.status, refused.code, _REFUSAL_TEXT[refused.code], detail=detail)


def own_member_id(viewer: Member) -> str:
    member_id = viewer.principal.member_id
    if not member_id:  # a member account always has one (cloud.auth.store checks it)
        raise PageForbidden
    return member_id


def code_refusal(session: Session, member_id: str, now: datetime) -> CodeRefused | None:
    """Why the door would refuse this member's code anyway, or None when it may be minted."""
    refused = codes.refusal(session, member_id, now)
    return None if refused is None else CodeRefused.of(refused)


def _entries(session: Session, member_id: str) -> list[EntryPublic]:
    page = member_entries(session=session, member_id=member_id, limit=RECENT_ENTRIES, offset=0)
    return page.data


def _bookings(session: Session, member_id: str, now: datetime) -> list[BookingRow]:
    """Upcoming (soonest first), then the latest past ones."""
    mine = col(Booking.member_id) == member_id
    upcoming = session.exec(
        select(Booking)
        .where(mine, col(Booking.ends_at) >= as_utc(now))
        .order_by(col(Booking.starts_at), col(Booking.id))
        .limit(UPCOMING_BOOKINGS)
    ).all()
    past = session.exec(
        select(Booking)
        .where(mine, col(Booking.ends_at) < as_utc(now))
        .order_by(col(Booking.starts_at).desc(), col(Booking.id))
        .limit(PAST_BOOKINGS)
    ).all()
    venue_ids = {b.venue_id for b in (*upcoming, *past)}
    venues = {v.id: v for v in session.exec(select(Venue).where(col(Venue.id).in_(venue_ids)))}
    room_ids = {b.room_id for b in (*upcoming, *past) if b.room_id}
    rooms = {r.id: r for r in session.exec(select(Room).where(col(Room.id).in_(room_ids)))}
    return [
        BookingRow(b, venues.get(b.venue_id), rooms.get(b.room_id or ""), upcoming=is_upcoming)
        for rows, is_upcoming in ((upcoming, True), (past, False))
        for b in rows
    ]


ChoiceQuery = Annotated[str | None, Query(max_length=32, pattern=r"^[a-z0-9-]{1,32}$")]


@router.get("/member", response_class=HTMLResponse)
def member_page(
    request: Request,
    *,
    viewer: Member,
    session: SessionDep,
    now: NowDep,
    venue: ChoiceQuery = None,
    room: ChoiceQuery = None,
    day: date | None = None,
) -> HTMLResponse:
    member_id = own_member_id(viewer)
    issuer = web_state(request).issuer
    refusal = None if issuer is None else code_refusal(session, member_id, now)
    balance = member_balance(session=session, member_id=member_id)
    bookings = _bookings(session, member_id, now)
    chooser = member_booking.choose(
        session,
        member_id,
        venue_id=venue,
        room_id=room,
        day=day,
        now=now,
        # Where they booked last is where they will most likely book again.
        usual_venue=bookings[0].booking.venue_id if bookings else None,
    )
    return render(
        request,
        viewer,
        "member.html",
        has_issuer=issuer is not None,
        refusal=refusal,
        balance=balance.balance,
        entries=_entries(session, member_id),
        entry_kinds=ENTRY_KINDS,
        statement_zone=STATEMENT_ZONE,
        bookings=bookings,
        member_id=member_id,
        chooser=chooser,
        early=int(ATTEND_EARLY.total_seconds() // 60),
        reasons=member_reasons(),
    )


def _refused(request: Request, lang: Lang, refusal: CodeRefused) -> JSONResponse:
    message = web_state(request).catalog.text(lang, refusal.key, **refusal.values)
    return error_response(refusal.status, code=refusal.code, message=message, headers=_NO_STORE)


@router.get("/member/code")
def member_code(request: Request, viewer: Member, session: SessionDep, now: NowDep) -> JSONResponse:
    """A fresh signed code for the signed-in member, with its QR code as SVG."""
    member_id = own_member_id(viewer)
    issuer = web_state(request).issuer
    if issuer is None:
        return _refused(request, viewer.lang, CodeRefused(404, "no_issuer", "member.no_issuer"))
    try:
        issued = codes.mint(session, member_id, issuer=issuer, now=now)
    except codes.CodeRefused as refused:
        return _refused(request, viewer.lang, CodeRefused.of(refused))
    body = {
        "code": issued.code,
        # Named, so a screen reader says what it is (axe: svg-img-alt).
        "svg": qr_svg(
            issued.code, label=web_state(request).catalog.text(viewer.lang, "member.code")
        ),
        "expires_at": issued.expires_at.isoformat(),
        "refresh_in_s": issued.refresh_in_s,
    }
    return JSONResponse(body, headers=_NO_STORE)
