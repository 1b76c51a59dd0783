"""The worker's phone app under /m/: find a station, sign in by SMS, walk in, show the code,
book, see and delete what is kept.

Server-rendered like the dashboard, every form a plain POST that works without scripts;
worker.js adds location, the live counts, the rotating code and its offline spares, and
sw.js keeps the shell, the last station list and the code page for a phone without signal.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final

import jwt
from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from cloud.access.models import Booking, Member
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.auth.cookie import CSRF_HEADER
from cloud.auth.throttle import address_key
from cloud.bookings import activities, rooms
from cloud.bookings.models import Activity, Room
from cloud.bookings.rooms import BookingError
from cloud.core.time import as_utc
from cloud.members import codes, phones
from cloud.members.models import MemberPhone
from cloud.models import Venue
from cloud.points.statement import member_balance, member_entries
from cloud.web.i18n import LANG_COOKIE, pick_lang
from cloud.web.pages import member_booking
from cloud.web.qr import qr_svg
from cloud.web.render import STATIC_DIR, render
from cloud.web.state import web_state
from cloud.web.worker.session import (
    AnyHolder,
    Holder,
    SignedForm,
    SignedIn,
    form_ok,
    safe_next,
    same_site_only,
    sign_in,
    sign_out,
)
from cloud.web.worker.state import worker_state
from cloud.worker import accounts, signin, stations
from cloud.worker.accounts import Enrolment, Occupation
from cloud.worker.identity import BadPhoneError, normalize_phone
from protocol.membercode import DEFAULT_LIFETIME

router = APIRouter(prefix="/m", include_in_schema=False, dependencies=[Depends(same_site_only)])
ENROL_COOKIE: Final = "yz_enrol"
ENROL_MINUTES: Final = 15  # from a verified code to a filled-in form
_ENROL_PURPOSE: Final = "worker-enrol"
_NO_STORE: Final = {"Cache-Control": "no-store"}
_CHECKIN_VENUE = re.compile(r"\bat ([A-Za-z0-9_-]{1,32})\b")
PointsQuery = Annotated[float | None, Query(ge=-180, le=180)]


def page(
    request: Request, holder: Holder, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return render(request, None, f"m/{template}", status_code=status_code, holder=holder, **context)


# --- find a station ------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def finder(
    request: Request,
    *,
    holder: AnyHolder,
    session: SessionDep,
    now: NowDep,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: PointsQuery = None,
    district: Annotated[str | None, Query(max_length=60)] = None,
    deleted: bool = False,
) -> HTMLResponse:
    near = (lat, lon) if lat is not None and lon is not None else None
    found = stations.stations(session, now=now, near=near, district=district or None)
    return page(
        request,
        holder,
        "finder.html",
        found=found,
        hours_words=stations.hours_words,
        near=near,
        district=district or "",
        districts=stations.districts(session),
        deleted=deleted,
    )


# --- walk-in poster, sign-in by SMS, registration ---------------------------------------------


def _poster_venue(request: Request, session: Session, venue_id: str, tag: str) -> Venue | None:
    venue = session.get(Venue, venue_id)
    keys = worker_state(request).keys
    if venue is None or not keys.poster_holds(venue.id, venue.poster_edition, tag):
        return None
    return venue


@router.get("/join/{venue_id}", response_class=HTMLResponse)
def join(
    request: Request,
    *,
    holder: AnyHolder,
    session: SessionDep,
    venue_id: str,
    p: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    venue = _poster_venue(request, session, venue_id, p)
    if venue is None:
        return page(request, holder, "problem.html", status_code=404, problem="m.poster.bad")
    if holder.worker is not None:
        return RedirectResponse("/m/code", status_code=303)
    return page(
        request, holder, "signin.html", venue=venue, poster=p, step="phone", next_path="/m/code"
    )


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, holder: AnyHolder, next: str = "/m/code") -> Response:  # noqa: A002
    if holder.worker is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return page(
        request,
        holder,
        "signin.html",
        venue=None,
        poster="",
        step="phone",
        next_path=safe_next(next),
    )


def _refused(
    request: Request, holder: Holder, refused: signin.SignInRefused, **context: Any
) -> HTMLResponse:
    status = 429 if refused.retry_after_s else 400
    if refused.code == "sms_failed":
        status = 503
    answer = page(
        request,
        holder,
        "signin.html",
        status_code=status,
        error=f"m.signin.{refused.code}",
        wait=max(1, (refused.retry_after_s + 59) // 60),
        **context,
    )
    if refused.retry_after_s:
        answer.headers["Retry-After"] = str(refused.retry_after_s)
    return answer


def _signin_context(
    request: Request, session: Session, venue_id: str, poster: str, next_path: str
) -> dict[str, Any]:
    """What the sign-in page carries from step to step: the poster's venue (a forged one
    is dropped, not refused: the person still signs in) and where to go afterwards."""
    venue = _poster_venue(request, session, venue_id, poster) if venue_id else None
    return {"venue": venue, "poster": poster if venue else "", "next_path": safe_next(next_path)}


def _bad_phone(
    request: Request, holder: Holder, phone: str, context: dict[str, Any]
) -> HTMLResponse:
    return page(
        request,
        holder,
        "signin.html",
        status_code=400,
        step="phone",
        phone=phone,
        error="m.signin.bad_phone",
        **context,
    )


@router.post("/signin/code", response_class=HTMLResponse)
def send_code(
    request: Request,
    *,
    holder: AnyHolder,
    session: SessionDep,
    now: NowDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    venue_id: Annotated[str, Form(max_length=32)] = "",
    poster: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=300)] = "/m/code",  # noqa: A002
) -> HTMLResponse:
    context = _signin_context(request, session, venue_id, poster, next)
    try:
        number = normalize_phone(phone)
    except BadPhoneError:
        return _bad_phone(request, holder, phone, context)
    state = worker_state(request)
    host = request.client.host if request.client else None
    try:
        signin.send_code(
            session,
            phone=number,
            address=address_key(host),
            keys=state.keys,
            sender=state.sender,
            settings=state.settings,
            now=now,
        )
    except signin.SignInRefused as refused:
        step = "code" if refused.code == "too_soon" else "phone"
        return _refused(request, holder, refused, step=step, phone=number, **context)
    return page(request, holder, "signin.html", step="code", phone=number, **context)


def _enrol_token(request: Request, claims: dict[str, Any], now: datetime) -> str:
    key = request.app.state.api.auth.jwt_secret
    body = {**claims, "purpose": _ENROL_PURPOSE, "exp": now + timedelta(minutes=ENROL_MINUTES)}
    return jwt.encode(body, key, algorithm="HS256")


def _enrol_claims(request: Request, now: datetime) -> dict[str, Any] | None:
    token = request.cookies.get(ENROL_COOKIE)
    if not token:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            request.app.state.api.auth.jwt_secret,
            algorithms=["HS256"],
            options={"verify_exp": False},
        )
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    if (
        claims.get("purpose") != _ENROL_PURPOSE
        or not isinstance(exp, int)
        or exp <= now.timestamp()
    ):
        return None
    return claims


@router.post("/signin/verify", response_class=HTMLResponse)
def verify_code(
    request: Request,
    *,
    holder: AnyHolder,
    session: SessionDep,
    now: NowDep,
    phone: Annotated[str, Form(max_length=40)] = "",
    code: Annotated[str, Form(max_length=12)] = "",
    venue_id: Annotated[str, Form(max_length=32)] = "",
    poster: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=300)] = "/m/code",  # noqa: A002
) -> Response:
    context = _signin_context(request, session, venue_id, poster, next)
    state = worker_state(request)
    try:
        number = normalize_phone(phone)
        phone_hash = signin.check_code(
            session, phone=number, code=code, keys=state.keys, settings=state.settings, now=now
        )
    except BadPhoneError:
        return _bad_phone(request, holder, phone, context)
    except signin.SignInRefused as refused:
        step = "code" if refused.code == "code_wrong" else "phone"
        return _refused(request, holder, refused, step=step, phone=phone, **context)
    worker = accounts.by_phone(session, phone_hash)
    if worker is not None:
        answer = RedirectResponse(safe_next(next), status_code=303)
        sign_in(answer, request, worker, now=now)
        return answer
    venue = context["venue"]
    claims = {"ph": phone_hash, "tail": number[-4:], "venue": venue.id if venue else None}
    answer = RedirectResponse("/m/register", status_code=303)
    answer.set_cookie(
        ENROL_COOKIE,
        _enrol_token(request, claims, now),
        max_age=ENROL_MINUTES * 60,
        httponly=True,
        samesite="lax",
        secure=web_state(request).secure_cookies,
        path="/m/",
    )
    return answer


@router.get("/register", response_class=HTMLResponse)
def register_page(
    request: Request, holder: AnyHolder, session: SessionDep, now: NowDep
) -> Response:
    claims = _enrol_claims(request, now)
    if claims is None:
        return RedirectResponse("/m/signin", status_code=303)
    venue = session.get(Venue, claims["venue"]) if claims.get("venue") else None
    return page(
        request,
        holder,
        "register.html",
        venue=venue,
        occupations=list(Occupation),
        tail=claims["tail"],
        values={},
    )


@router.post("/register", response_class=HTMLResponse)
def register(
    request: Request,
    *,
    holder: AnyHolder,
    session: SessionDep,
    now: NowDep,
    occupation: Annotated[str, Form(max_length=16)] = "",
    name: Annotated[str, Form(max_length=80)] = "",
    consent: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    claims = _enrol_claims(request, now)
    if claims is None:
        return RedirectResponse("/m/signin", status_code=303)
    venue = session.get(Venue, claims["venue"]) if claims.get("venue") else None
    name = " ".join(name.split())
    errors = []
    if occupation not in {o.value for o in Occupation}:
        errors.append("m.register.need_occupation")
    if len(name) > 40 or any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        errors.append("m.register.bad_name")
    if consent != "yes":
        errors.append("m.register.need_consent")
    if errors:
        return page(
            request,
            holder,
            "register.html",
            status_code=400,
            venue=venue,
            occupations=list(Occupation),
            tail=claims["tail"],
            errors=errors,
            values={"occupation": occupation, "name": name},
        )
    worker = accounts.enrol(
        session,
        Enrolment(
            phone_hash=claims["ph"],
            phone_tail=claims["tail"],
            occupation=Occupation(occupation),
            name=name or None,
            lang=holder.lang,
            venue_id=venue.id if venue else None,
        ),
        settings=worker_state(request).settings,
        now=now,
    )
    answer = RedirectResponse("/m/code?welcome=1", status_code=303)
    answer.delete_cookie(ENROL_COOKIE, path="/m/")
    sign_in(answer, request, worker, now=now)
    return answer


@router.post("/signout")
def signout(
    request: Request, holder: AnyHolder, csrf: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    answer = RedirectResponse("/m/", status_code=303)
    if form_ok(request, holder, csrf):
        sign_out(answer)
    return answer


# --- my code ---------------------------------------------------------------------------------


_REFUSALS: Final = {
    "member_unknown": "m.code.unknown",
    "member_revoked": "m.code.revoked",
    "membership_expired": "m.code.lapsed",
    "guest_used_up": "m.code.used_up",
    "no_issuer": "m.code.no_issuer",
    "code_refused": "m.code.error",
}


def _guest_until(session: Session, holder: Holder) -> datetime | None:
    assert holder.worker is not None
    if not accounts.is_guest(holder.worker.member_id):
        return None
    member = session.get(Member, holder.worker.member_id)
    return None if member is None or member.valid_until is None else as_utc(member.valid_until)


@router.get("/code", response_class=HTMLResponse)
def code_page(
    request: Request, holder: SignedIn, session: SessionDep, welcome: bool = False
) -> HTMLResponse:
    assert holder.worker is not None
    return page(
        request,
        holder,
        "code.html",
        welcome=welcome,
        guest=accounts.is_guest(holder.worker.member_id),
        guest_until=_guest_until(session, holder),
        visits=worker_state(request).settings.guest_visits,
    )


@router.get("/code.json")
def code_json(
    request: Request, holder: SignedIn, session: SessionDep, state: StateDep, now: NowDep
) -> Response:
    """The code for now and the next few minutes' spares, each as its QR code."""
    assert holder.worker is not None
    settings = worker_state(request).settings
    catalog = web_state(request).catalog

    def refused(status: int, code: str) -> JSONResponse:
        message = catalog.text(holder.lang, _REFUSALS.get(code, "m.code.error"))
        return JSONResponse(
            {"code": code, "message": message}, status_code=status, headers=_NO_STORE
        )

    issuer = state.issuer
    if issuer is None:
        return refused(404, "no_issuer")
    # The rate limit first: counting a guest's visits reads the door log.
    wait = state.code_limit.take(holder.worker.member_id)
    if wait is not None:
        answer = refused(429, "code_refused")
        answer.headers["Retry-After"] = str(max(1, int(wait)))
        return answer
    if accounts.use_up_guest_pass(session, holder.worker, settings=settings, now=now):
        return refused(409, "guest_used_up")
    try:
        issued = codes.mint_ahead(
            session, holder.worker.member_id, issuer=issuer, now=now, ahead=settings.offline_minutes
        )
    except codes.CodeRefused as exc:
        return refused(exc.status, exc.code)
    body = {
        "refresh_in_s": issued[0].refresh_in_s,
        "codes": [
            {
                "svg": qr_svg(c.code, label=catalog.text(holder.lang, "m.code.title")),
                "from": (c.expires_at - DEFAULT_LIFETIME).isoformat(),
                "until": c.expires_at.isoformat(),
            }
            for c in issued
        ],
    }
    # Eleven QR codes are 48 kB as text and about a quarter of that gzipped (create_app).
    return JSONResponse(body, headers=_NO_STORE)


@router.post("/phone-key")
def phone_key(
    request: Request,
    *,
    holder: SignedIn,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
    public_key: Annotated[str, Body(embed=True, max_length=64)],
) -> Response:
    """Certify the Ed25519 key this browser keeps (phonekey.js), for codes with no signal.

    The same key again is a renewal: a fresh certificate for the same phone.
    """
    assert holder.worker is not None
    catalog = web_state(request).catalog

    def refused(status: int, code: str, text: str | None = None) -> JSONResponse:
        message = catalog.text(holder.lang, text or _REFUSALS.get(code, "m.code.error"))
        return JSONResponse(
            {"code": code, "message": message}, status_code=status, headers=_NO_STORE
        )

    # A script's POST: the CSRF token rides in a header, as the dashboard's scripts send it.
    if not form_ok(request, holder, request.headers.get(CSRF_HEADER, "")):
        return refused(403, "stale_form", "m.form.stale")
    if state.issuer is None:
        return refused(404, "no_issuer")
    if state.code_limit.take(holder.worker.member_id) is not None:
        return refused(429, "code_refused")
    settings = worker_state(request).settings
    if accounts.use_up_guest_pass(session, holder.worker, settings=settings, now=now):
        return refused(409, "guest_used_up")  # no certificate past a spent pass either
    try:
        cert = phones.register(
            session,
            holder.worker.member_id,
            public_key=public_key,
            label="browser",
            issuer=state.issuer,
            now=now,
        )
    except codes.CodeRefused as exc:
        return refused(exc.status, exc.code)
    phone = session.get(MemberPhone, cert.phone_id)
    assert phone is not None  # register() just certified it
    body = {
        "certificate": cert.certificate,
        "valid_until": cert.valid_until.isoformat(),
        "renew_after": phones.renew_by(phone).isoformat(),
    }
    return JSONResponse(body, headers=_NO_STORE)


# --- bookings and activities -----------------------------------------------------------------


def _my_bookings(
    session: Session, member_id: str, now: datetime
) -> list[tuple[Booking, Venue | None, Room | None]]:
    rows = session.exec(
        select(Booking)
        .where(
            col(Booking.member_id) == member_id,
            col(Booking.ends_at) >= as_utc(now),
            col(Booking.cancelled).is_(False),
        )
        .order_by(col(Booking.starts_at))
        .limit(20)
    ).all()
    venues = {
        v.id: v
        for v in session.exec(select(Venue).where(col(Venue.id).in_({b.venue_id for b in rows})))
    }
    room_ids = {b.room_id for b in rows if b.room_id}
    found = {r.id: r for r in session.exec(select(Room).where(col(Room.id).in_(room_ids)))}
    return [(b, venues.get(b.venue_id), found.get(b.room_id or "")) for b in rows]


@router.get("/book", response_class=HTMLResponse)
def book_page(
    request: Request,
    *,
    holder: SignedIn,
    session: SessionDep,
    now: NowDep,
    venue: Annotated[str | None, Query(max_length=32)] = None,
    room: Annotated[str | None, Query(max_length=32)] = None,
    day: date | None = None,
    done: str = "",
) -> HTMLResponse:
    assert holder.worker is not None
    member_id = holder.worker.member_id
    mine = _my_bookings(session, member_id, now)
    chooser = member_booking.choose(
        session,
        member_id,
        venue_id=venue,
        room_id=room,
        day=day,
        now=now,
        usual_venue=mine[0][0].venue_id if mine else holder.worker.joined_venue,
        guest=accounts.is_guest(member_id),
    )
    return page(
        request,
        holder,
        "book.html",
        mine=mine,
        chooser=chooser,
        signups=member_booking.my_signups(session, member_id, now),
        done=done,
    )


def _booking_problem(request: Request, holder: Holder, exc: BookingError) -> HTMLResponse:
    return page(
        request,
        holder,
        "problem.html",
        status_code=exc.status,
        problem=f"m.book.refused.{exc.code}",
        back="/m/book",
    )


@router.post("/book")
def book(
    request: Request,
    *,
    holder: SignedForm,
    session: SessionDep,
    now: NowDep,
    room: Annotated[str, Form(max_length=32)] = "",
    starts_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    assert holder.worker is not None
    chosen = session.get(Room, room)
    try:
        start = as_utc(datetime.fromisoformat(starts_at))
    except ValueError:
        chosen = None
    if chosen is None:
        return page(
            request,
            holder,
            "problem.html",
            status_code=404,
            problem="m.book.refused.slot_unknown",
            back="/m/book",
        )
    try:
        rooms.book(
            session=session,
            room=chosen,
            member_id=holder.worker.member_id,
            starts_at=start,
            ends_at=start + timedelta(minutes=chosen.slot_minutes),
            by=holder.worker.username,
            now=now,
        )
    except BookingError as exc:
        return _booking_problem(request, holder, exc)
    return RedirectResponse("/m/book?done=booked", status_code=303)


@router.post("/book/{booking_id}/cancel")
def cancel_booking(
    request: Request,
    *,
    holder: SignedForm,
    session: SessionDep,
    now: NowDep,
    booking_id: str,
) -> Response:
    assert holder.worker is not None
    booking = session.get(Booking, booking_id)
    if booking is None or booking.member_id != holder.worker.member_id:
        return page(
            request,
            holder,
            "problem.html",
            status_code=404,
            problem="m.book.refused.not_found",
            back="/m/book",
        )
    rooms.cancel(session=session, booking=booking, now=now)
    return RedirectResponse("/m/book?done=cancelled", status_code=303)


@router.post("/activities/{activity_id}/{action}")
def activity_action(
    request: Request,
    *,
    holder: SignedForm,
    session: SessionDep,
    now: NowDep,
    activity_id: str,
    action: str,
) -> Response:
    assert holder.worker is not None
    activity = session.get(Activity, activity_id)
    if activity is None or action not in ("join", "leave"):
        return page(
            request,
            holder,
            "problem.html",
            status_code=404,
            problem="m.book.refused.not_found",
            back="/m/book",
        )
    try:
        if action == "join":
            activities.sign_up(
                session=session,
                activity=activity,
                member_id=holder.worker.member_id,
                by=holder.worker.username,
                now=now,
            )
        else:
            activities.withdraw(
                session=session, activity=activity, member_id=holder.worker.member_id, now=now
            )
    except BookingError as exc:
        return _booking_problem(request, holder, exc)
    return RedirectResponse(
        f"/m/book?done={'joined' if action == 'join' else 'left'}", status_code=303
    )


# --- me: points, what is kept, delete ---------------------------------------------------------


def _statement(session: Session, member_id: str) -> list[dict[str, Any]]:
    entries = member_entries(session=session, member_id=member_id, limit=20, offset=0).data
    venue_ids = {m[1] for e in entries if (m := _CHECKIN_VENUE.search(e.memo))}
    names = dict(
        session.exec(select(Venue.id, Venue.name).where(col(Venue.id).in_(venue_ids))).all()
    )
    rows = []
    for entry in entries:
        found = _CHECKIN_VENUE.search(entry.memo) if entry.kind == "checkin" else None
        rows.append(
            {
                "at": entry.at,
                "kind": entry.kind,
                "venue": names.get(found[1]) if found else None,
                "memo": entry.memo if entry.kind == "grant" else "",
                "amount": entry.amount,
            }
        )
    return rows


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, holder: SignedIn, session: SessionDep) -> HTMLResponse:
    assert holder.worker is not None
    member_id = holder.worker.member_id
    return page(
        request,
        holder,
        "me.html",
        data=accounts.my_data(session, holder.worker),
        balance=member_balance(session=session, member_id=member_id).balance,
        statement=_statement(session, member_id),
        guest=accounts.is_guest(member_id),
        guest_until=_guest_until(session, holder),
        joined=session.get(Venue, holder.worker.joined_venue)
        if holder.worker.joined_venue
        else None,
    )


@router.post("/me/delete")
def delete_me(
    *,
    holder: SignedForm,
    session: SessionDep,
    now: NowDep,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    assert holder.worker is not None
    if confirm != "yes":
        return RedirectResponse("/m/me?confirm=1#delete", status_code=303)
    accounts.delete_account(session, holder.worker, now=now)
    answer = RedirectResponse("/m/?deleted=1", status_code=303)
    sign_out(answer)
    return answer


@router.get("/manifest.webmanifest")
def manifest(request: Request) -> JSONResponse:
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    catalog = web_state(request).catalog
    body = {
        "name": catalog.text(lang, "m.app"),
        "short_name": "驿站",
        "lang": lang,
        "start_url": "/m/code",
        "scope": "/m/",
        "display": "standalone",
        "background_color": "#f4f4f4",
        "theme_color": "#b3261e",
        "icons": [{"src": "/static/favicon.svg", "sizes": "any", "type": "image/svg+xml"}],
    }
    return JSONResponse(body, media_type="application/manifest+json")


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """Served from /m/ so its scope is the worker app, and never cached by the browser
    (a new version must reach phones at their next visit)."""
    return FileResponse(
        STATIC_DIR / "m" / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/privacy", response_class=HTMLResponse)
def privacy(request: Request, holder: AnyHolder) -> HTMLResponse:
    return page(request, holder, "privacy.html", settings=worker_state(request).settings)
