"""Rooms, bookings and activities: ``/api/v1/venues/{id}/rooms…``, ``/rooms/{id}/…``,
``/bookings/{id}/…``, ``/venues/{id}/activities``, ``/activities/{id}/…``.

Who may: an admin everywhere; a venue's manager in their venues (rooms and activities are
theirs to set up); the union's platform with an integration token holding
``bookings:write``; a member for themselves only (book, cancel their booking, sign up,
withdraw). Managers see member ids as pseudonyms, as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session

from cloud.access.models import Booking
from cloud.api.auth_deps import (
    CurrentPrincipal,
    ScopedVenue,
    forbidden,
    require_roles,
    scoped_venue,
    venue_not_found,
)
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.auth.principal import Principal, Role, Scope
from cloud.auth.pseudonym import member_names
from cloud.bookings import activities, rooms
from cloud.bookings.models import Activity, Room
from cloud.bookings.rooms import BookingError, RoomIn
from cloud.core.time import UtcDatetime, as_utc
from cloud.members.sheets import write_sheet
from cloud.models import Venue
from protocol.ids import ID_PATTERN
from protocol.sync import BookingId

router = APIRouter(tags=["bookings"])
# Who may reach a route at all, checked before its body is read (so a technician's or a
# box's token is 403 whatever it sends); each route then checks the venue or the member.
_PEOPLE = Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.MEMBER, Role.INTEGRATION))
_RUNNERS = Depends(require_roles(Role.ADMIN, Role.MANAGER))
_OVERSEERS = Depends(require_roles(Role.ADMIN, Role.MANAGER, Role.INTEGRATION))
_OWNERS = Depends(require_roles(Role.ADMIN, Role.MEMBER, Role.INTEGRATION))
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (404, 409)}
RoomIdPath = Annotated[str, Path(max_length=32, pattern=ID_PATTERN)]
ActivityIdPath = Annotated[str, Path(max_length=32, pattern=r"^act-[0-9a-f]{12}$")]
MemberIdPath = Annotated[str, Path(max_length=24, pattern=r"^[A-Za-z0-9._-]{1,24}$")]
MAX_RANGE: Final = timedelta(days=62)


# --- who may ----------------------------------------------------------------------------------


def _may_run(principal: Principal, venue_id: str) -> bool:
    """Set up rooms and activities of a venue: its admin or manager."""
    return principal.role is Role.ADMIN or (
        principal.role is Role.MANAGER and principal.sees_venue(venue_id)
    )


def _may_book_for(principal: Principal, venue_id: str, member_id: str) -> bool:
    """Book, cancel, sign up for ``member_id`` at ``venue_id``."""
    if principal.role is Role.MEMBER:
        return principal.member_id == member_id
    return _may_run(principal, venue_id) or principal.may(Scope.BOOKINGS_WRITE)


def _may_see_venue(principal: Principal, venue_id: str) -> bool:
    """See a venue's rooms, slots and activities (members: to choose what to book)."""
    return principal.role is Role.MEMBER or _may_book_for(principal, venue_id, "")


def _unseen(principal: Principal, what: str) -> ApiError:
    """404 alike for what the caller may not see; a token lacking the scope is told so."""
    if principal.role is Role.INTEGRATION:
        return ApiError(
            403,
            code="forbidden",
            message="this needs the bookings:write scope: ask an admin for a token with it",
        )
    return ApiError(404, code=f"{what}_not_found", message=f"there is no such {what}")


def _refused(exc: BookingError) -> ApiError:
    return ApiError(exc.status, code=exc.code, message=exc.message)


def _shown(principal: Principal, state: StateDep) -> Callable[[str], str]:
    return member_names(principal, key=state.auth.pseudonym_key)


def _venue_for(session: Session, principal: Principal, venue_id: str) -> None:
    """404 for a venue the caller may not see, as everywhere (ids are not confirmed).

    Members and the platform see every venue's rooms and activities (to choose one).
    """
    if principal.role in (Role.MEMBER, Role.INTEGRATION):
        if session.get(Venue, venue_id) is None:
            raise venue_not_found(venue_id)
    else:
        scoped_venue(session=session, principal=principal, venue_id=venue_id)


def _room(session: Session, principal: Principal, room_id: str) -> Room:
    room = session.get(Room, room_id)
    if room is None or not _may_see_venue(principal, room.venue_id):
        raise _unseen(principal, "room")
    _venue_for(session, principal, room.venue_id)
    return room


def _activity(session: Session, principal: Principal, activity_id: str) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or not _may_see_venue(principal, activity.venue_id):
        raise _unseen(principal, "activity")
    _venue_for(session, principal, activity.venue_id)
    return activity


# --- rooms ------------------------------------------------------------------------------------


class RoomPublic(RoomIn):
    id: str
    venue_id: str


def _room_public(room: Room) -> RoomPublic:
    return RoomPublic.model_validate(room.model_dump())


@router.get("/venues/{venue_id}/rooms", dependencies=[_PEOPLE])
def list_rooms(
    *, session: SessionDep, principal: CurrentPrincipal, venue_id: str
) -> list[RoomPublic]:
    """The venue's rooms (members and the platform see the active ones)."""
    if not _may_see_venue(principal, venue_id):
        raise forbidden(principal)
    _venue_for(session, principal, venue_id)
    active_only = not _may_run(principal, venue_id)
    return [
        _room_public(r)
        for r in rooms.rooms(session=session, venue_id=venue_id, active_only=active_only)
    ]


@router.put("/venues/{venue_id}/rooms/{room_id}", dependencies=[_RUNNERS], responses=_ERRORS)
def put_room(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    venue: ScopedVenue,
    room_id: RoomIdPath,
    room_in: RoomIn,
) -> RoomPublic:
    """Create or change a room; its door must be booking-gated in the door's policy."""
    if not _may_run(principal, venue.id):
        raise forbidden(principal)
    try:
        room = rooms.put_room(session=session, venue_id=venue.id, room_id=room_id, room_in=room_in)
    except BookingError as exc:
        raise _refused(exc) from None
    return _room_public(room)


class SlotPublic(BaseModel):
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    booked: int
    capacity: int
    free: int


@router.get("/rooms/{room_id}/slots", dependencies=[_PEOPLE], responses=_ERRORS)
def room_slots(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    room_id: RoomIdPath,
    day: Annotated[date, Query(description="The venue's local date, YYYY-MM-DD.")],
) -> list[SlotPublic]:
    """The room's slots on a day, with how many places each has left."""
    room = _room(session, principal, room_id)
    return [
        SlotPublic(
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            booked=s.booked,
            capacity=s.capacity,
            free=s.free,
        )
        for s in rooms.slots(session=session, room=room, day=day)
    ]


# --- bookings ---------------------------------------------------------------------------------


class BookingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(max_length=24, pattern=r"^[A-Za-z0-9._-]{1,24}$")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    booking_id: BookingId | None = Field(
        default=None, description="Your own id: sending the same booking again is then safe."
    )


class BookingPublic(BaseModel):
    id: str
    venue_id: str
    room_id: str | None
    door: str
    member_id: str
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    cancelled: bool
    booked_by: str | None


def _booking_public(booking: Booking, shown: Callable[[str], str]) -> BookingPublic:
    """``shown`` names the member; who booked is left out where members go by pseudonyms
    (a member booking for themselves is booked_by their own username)."""
    revealed = shown("") == ""
    return BookingPublic(
        id=booking.id,
        venue_id=booking.venue_id,
        room_id=booking.room_id,
        door=booking.door,
        member_id=shown(booking.member_id),
        starts_at=as_utc(booking.starts_at),
        ends_at=as_utc(booking.ends_at),
        cancelled=booking.cancelled,
        booked_by=booking.booked_by if revealed else None,
    )


@router.post(
    "/rooms/{room_id}/bookings", dependencies=[_PEOPLE], status_code=201, responses=_ERRORS
)
def create_booking(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    state: StateDep,
    now: NowDep,
    room_id: RoomIdPath,
    booking_in: BookingIn,
) -> BookingPublic:
    """Book a member into a slot; refused with a reason when full, overlapping or closed."""
    room = _room(session, principal, room_id)
    if not _may_book_for(principal, room.venue_id, booking_in.member_id):
        raise forbidden(principal)
    try:
        booking = rooms.book(
            session=session,
            room=room,
            member_id=booking_in.member_id,
            starts_at=booking_in.starts_at,
            ends_at=booking_in.ends_at,
            by=principal.subject,
            now=now,
            booking_id=booking_in.booking_id,
        )
    except BookingError as exc:
        raise _refused(exc) from None
    return _booking_public(booking, _shown(principal, state))


@router.post("/bookings/{booking_id}/cancel", dependencies=[_PEOPLE], responses=_ERRORS)
def cancel_booking(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    state: StateDep,
    now: NowDep,
    booking_id: Annotated[str, Path(max_length=40)],
) -> BookingPublic:
    booking = session.get(Booking, booking_id)
    if booking is None or not _may_book_for(principal, booking.venue_id, booking.member_id):
        raise ApiError(404, code="booking_not_found", message=f"there is no booking {booking_id!r}")
    return _booking_public(
        rooms.cancel(session=session, booking=booking, now=now), _shown(principal, state)
    )


def _range(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    start = as_utc(start) if start else as_utc(now) - timedelta(days=1)
    end = as_utc(end) if end else start + timedelta(days=7)
    if end <= start or end - start > MAX_RANGE:
        raise ApiError(422, code="bad_range", message="end must be after start, at most 62 days on")
    return start, end


Start = Annotated[AwareDatetime | None, Query(description="From (default: a day ago).")]
End = Annotated[AwareDatetime | None, Query(description="To (default: 7 days after start).")]


@router.get(
    "/venues/{venue_id}/bookings",
    dependencies=[_OVERSEERS],
    responses={200: {"content": {"text/csv": {}}}},
)
def venue_bookings(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    state: StateDep,
    now: NowDep,
    venue: ScopedVenue,
    start: Start = None,
    end: End = None,
    format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002 - the query's name
) -> Any:
    """The venue's bookings between two times (a calendar's week), or a CSV/XLSX of them."""
    if not _may_book_for(principal, venue.id, "") or principal.role is Role.MEMBER:
        raise forbidden(principal)
    begin, until = _range(start, end, now)
    shown = _shown(principal, state)
    found = [
        _booking_public(b, shown)
        for b in rooms.bookings_between(session=session, venue_id=venue.id, start=begin, end=until)
    ]
    if format == "json":
        return found
    columns = ("id", "room_id", "member_id", "starts_at", "ends_at", "booked_by")
    rows = [[_text(getattr(b, c)) for c in columns] for b in found]
    return _file(write_sheet(columns, rows, fmt=format), f"bookings-{venue.id}", format)


@router.get("/members/{member_id}/bookings", dependencies=[_OWNERS])
def member_bookings(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    now: NowDep,
    member_id: MemberIdPath,
) -> list[BookingPublic]:
    """A member's upcoming bookings (the member, an admin or the platform)."""
    own = principal.role is Role.MEMBER and principal.member_id == member_id
    if not (own or principal.role is Role.ADMIN or principal.may(Scope.BOOKINGS_WRITE)):
        raise forbidden(principal)
    found = rooms.bookings_between(
        session=session, member_id=member_id, start=now, end=as_utc(now) + timedelta(days=90)
    )
    return [_booking_public(b, lambda m: m) for b in found]


# --- activities -------------------------------------------------------------------------------


class ActivityPublic(BaseModel):
    id: str
    venue_id: str
    title: str
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    capacity: int
    points: int
    signed_up: int
    cancelled: bool


class RollPublic(BaseModel):
    signed_up: list[str]
    attended: list[str]
    no_shows: list[str]


def _activity_public(session: Session, activity: Activity, now: datetime) -> ActivityPublic:
    roll = activities.roll(session=session, activity=activity, now=now)
    return ActivityPublic(
        id=activity.id,
        venue_id=activity.venue_id,
        title=activity.title,
        starts_at=as_utc(activity.starts_at),
        ends_at=as_utc(activity.ends_at),
        capacity=activity.capacity,
        points=activity.points,
        signed_up=len(roll.signed_up),
        cancelled=activity.cancelled_at is not None,
    )


@router.post(
    "/venues/{venue_id}/activities", dependencies=[_RUNNERS], status_code=201, responses=_ERRORS
)
def create_activity(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    now: NowDep,
    venue: ScopedVenue,
    activity_in: activities.ActivityIn,
) -> ActivityPublic:
    if not _may_run(principal, venue.id):
        raise forbidden(principal)
    try:
        activity = activities.create(
            session=session,
            venue_id=venue.id,
            activity_in=activity_in,
            by=principal.subject,
            now=now,
        )
    except BookingError as exc:
        raise _refused(exc) from None
    return _activity_public(session, activity, now)


@router.get("/venues/{venue_id}/activities", dependencies=[_PEOPLE])
def venue_activities(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    now: NowDep,
    venue_id: str,
    start: Start = None,
    end: End = None,
) -> list[ActivityPublic]:
    if not _may_see_venue(principal, venue_id):
        raise forbidden(principal)
    _venue_for(session, principal, venue_id)
    begin, until = _range(start, end, now)
    found = activities.activities_between(
        session=session, venue_id=venue_id, start=begin, end=until
    )
    return [_activity_public(session, a, now) for a in found]


@router.get(
    "/activities/{activity_id}/roll",
    dependencies=[_OVERSEERS],
    responses={200: {"content": {"text/csv": {}}}},
)
def activity_roll(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    state: StateDep,
    now: NowDep,
    activity_id: ActivityIdPath,
    format: Literal["json", "csv", "xlsx"] = "json",  # noqa: A002 - the query's name
) -> Any:
    """Who signed up, who came (recorded from the door) and, once it is over, who did not."""
    activity = _activity(session, principal, activity_id)
    if principal.role is Role.MEMBER or not _may_book_for(principal, activity.venue_id, ""):
        raise forbidden(principal)
    roll = activities.roll(session=session, activity=activity, now=now)
    shown = _shown(principal, state)
    public = RollPublic(
        signed_up=[shown(s.member_id) for s in roll.signed_up],
        attended=[shown(a.member_id) for a in roll.attended],
        no_shows=[shown(m) for m in roll.no_shows],
    )
    if format == "json":
        return public
    came = set(public.attended)
    rows = [
        [m, "yes" if m in came else ("no" if m in public.no_shows else "")]
        for m in public.signed_up
    ]
    return _file(write_sheet(("member_id", "attended"), rows, fmt=format), activity.id, format)


@router.post("/activities/{activity_id}/cancel", dependencies=[_RUNNERS], responses=_ERRORS)
def cancel_activity(
    *, session: SessionDep, principal: CurrentPrincipal, now: NowDep, activity_id: ActivityIdPath
) -> ActivityPublic:
    activity = _activity(session, principal, activity_id)
    if not _may_run(principal, activity.venue_id):
        raise forbidden(principal)
    return _activity_public(
        session, activities.cancel(session=session, activity=activity, now=now), now
    )


class SignupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(max_length=24, pattern=r"^[A-Za-z0-9._-]{1,24}$")


@router.post(
    "/activities/{activity_id}/signups", dependencies=[_PEOPLE], status_code=201, responses=_ERRORS
)
def sign_up(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    now: NowDep,
    activity_id: ActivityIdPath,
    signup: SignupIn,
) -> ActivityPublic:
    """Sign a member up (again is the same sign-up); refused when full, over or cancelled."""
    activity = _activity(session, principal, activity_id)
    if not _may_book_for(principal, activity.venue_id, signup.member_id):
        raise forbidden(principal)
    try:
        activities.sign_up(
            session=session,
            activity=activity,
            member_id=signup.member_id,
            by=principal.subject,
            now=now,
        )
    except BookingError as exc:
        raise _refused(exc) from None
    return _activity_public(session, activity, now)


@router.delete(
    "/activities/{activity_id}/signups/{member_id}", dependencies=[_PEOPLE], responses=_ERRORS
)
def withdraw(
    *,
    session: SessionDep,
    principal: CurrentPrincipal,
    now: NowDep,
    activity_id: ActivityIdPath,
    member_id: MemberIdPath,
) -> ActivityPublic:
    activity = _activity(session, principal, activity_id)
    if not _may_book_for(principal, activity.venue_id, member_id):
        raise forbidden(principal)
    try:
        activities.withdraw(session=session, activity=activity, member_id=member_id, now=now)
    except BookingError as exc:
        raise _refused(exc) from None
    return _activity_public(session, activity, now)


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _file(data: bytes, name: str, fmt: str) -> Response:
    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )
