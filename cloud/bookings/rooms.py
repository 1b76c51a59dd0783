"""Rooms, their slots and their bookings: book a member into a slot, cancel, list.

A booking is refused with a reason a person can act on: the slot is full, the member holds
an overlapping booking of this room, the time is not one of the room's slots, in the past or
too far ahead, or the member may not enter (not on the roster, suspended, lapsed). Writers
queue on the bookings stream's lock (``cloud.access.store.lock_bookings``), so two requests
for a slot's last place cannot both take it. Doors receive every booking with their sync.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, func, select

from cloud.access.models import Booking, Member
from cloud.access.store import cancel_booking, lock_bookings, upsert_booking
from cloud.aggregates.timezones import venue_zone
from cloud.bookings.models import Room
from cloud.core.time import as_utc
from cloud.members.codes import refusal
from cloud.models import Venue
from protocol.access import GUEST_GROUP
from protocol.ids import Identifier

RoomKind = Literal["court", "meeting", "nursing", "study", "gym", "other"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# A closing time may be midnight at the end of the day: a nursing room open around the clock.
ClosingTime = Annotated[str, StringConstraints(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
MAX_SLOTS_PER_BOOKING: Final = 4  # one booking spans at most this many slots
_NAME = re.compile(r"[\x00-\x1f\x7f]")


class BookingError(ValueError):
    """A booking that cannot be made or changed; ``code`` is the API's error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RoomIn(BaseModel):
    """A room as an admin or the venue's manager sets it up."""

    model_config = ConfigDict(extra="forbid")

    door: Identifier = Field(description="The booking-gated door in front of the room.")
    name_zh: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=60)
    kind: RoomKind = "other"
    capacity: int = Field(default=1, ge=1, le=200, description="Bookings one slot may hold.")
    slot_minutes: int = Field(default=60, ge=15, le=240)
    opens: ClockTime = "08:00"
    closes: ClosingTime = "22:00"
    days_ahead: int = Field(default=14, ge=1, le=90)
    active: bool = True

    @model_validator(mode="after")
    def _sensible(self) -> RoomIn:
        for name in (self.name_zh, self.name_en):
            if _NAME.search(name):
                raise ValueError("room names must not hold control characters")
        if self.closes <= self.opens:
            raise ValueError(f"closes ({self.closes}) must be after opens ({self.opens})")
        day = _minutes(self.closes) - _minutes(self.opens)
        if day % self.slot_minutes:
            raise ValueError(
                f"{self.opens}-{self.closes} is not a whole number of {self.slot_minutes}-minute "
                "slots; move closes or change slot_minutes"
            )
        return self


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def put_room(*, session: Session, venue_id: str, room_id: str, room_in: RoomIn) -> Room:
    """Create or change a room (a room never moves to another venue)."""
    row = session.get(Room, room_id)
    if row is not None and row.venue_id != venue_id:
        raise BookingError(
            409, "room_elsewhere", f"room {room_id!r} belongs to venue {row.venue_id!r}"
        )
    row = row or Room(id=room_id, venue_id=venue_id, door=room_in.door, name_zh="", name_en="")
    row.sqlmodel_update(room_in.model_dump())
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def rooms(*, session: Session, venue_id: str, active_only: bool = False) -> list[Room]:
    query = select(Room).where(col(Room.venue_id) == venue_id)
    if active_only:
        query = query.where(col(Room.active))
    return list(session.exec(query.order_by(col(Room.id))))


@dataclass(frozen=True, slots=True)
class Slot:
    starts_at: datetime  # UTC
    ends_at: datetime
    booked: int
    capacity: int

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.booked)


def _zone(session: Session, room: Room) -> str | None:
    venue = session.get(Venue, room.venue_id)
    return venue.timezone if venue else None


def _live(room_id: str) -> ColumnElement[bool]:
    """The room's bookings that hold a place (not cancelled)."""
    return and_(col(Booking.room_id) == room_id, col(Booking.cancelled).is_(False))


def slots(*, session: Session, room: Room, day: date) -> list[Slot]:
    """The room's slots on a local day, with how many bookings each holds."""
    zone = venue_zone(_zone(session, room))
    midnight = datetime.combine(day, time(0), zone)
    start = midnight + timedelta(minutes=_minutes(room.opens))
    end = midnight + timedelta(minutes=_minutes(room.closes))
    step = timedelta(minutes=room.slot_minutes)
    bookings = session.exec(
        select(Booking).where(
            _live(room.id),
            col(Booking.starts_at) < as_utc(end),
            col(Booking.ends_at) > as_utc(start),
        )
    ).all()
    found = []
    at = start
    while at < end:
        begins, ends = as_utc(at), as_utc(at + step)
        taken = sum(
            1 for b in bookings if as_utc(b.starts_at) < ends and as_utc(b.ends_at) > begins
        )
        found.append(Slot(begins, ends, taken, room.capacity))
        at += step
    return found


def _check_time(
    session: Session, room: Room, starts_at: datetime, ends_at: datetime, now: datetime
) -> None:
    zone = venue_zone(_zone(session, room))
    local_start = starts_at.astimezone(zone)
    step = room.slot_minutes
    opens, closes = _minutes(room.opens), _minutes(room.closes)
    first = local_start.hour * 60 + local_start.minute
    length = (ends_at - starts_at).total_seconds() / 60
    on_grid = (
        local_start.second == 0
        and local_start.microsecond == 0
        and (first - opens) % step == 0
        and length % step == 0
    )
    if not on_grid or length <= 0:
        raise BookingError(
            422,
            "not_a_slot",
            f"bookings of {room.id!r} are whole {step}-minute slots from {room.opens} "
            f"(venue time); pick a slot from GET /api/v1/rooms/{room.id}/slots",
        )
    last = first + int(length)
    if first < opens or last > closes:
        raise BookingError(
            422, "closed", f"{room.id!r} can be booked {room.opens}-{room.closes} venue time"
        )
    if length > step * MAX_SLOTS_PER_BOOKING:
        raise BookingError(
            422, "too_long", f"one booking holds at most {MAX_SLOTS_PER_BOOKING} slots"
        )
    if ends_at <= as_utc(now):
        raise BookingError(422, "in_the_past", "that slot is over; pick a later one")
    if starts_at > as_utc(now) + timedelta(days=room.days_ahead):
        raise BookingError(
            422, "too_far_ahead", f"{room.id!r} is booked at most {room.days_ahead} days ahead"
        )


def refuse_guest_where_not_admitted(session: Session, member_id: str, venue_id: str) -> None:
    """A walk-in's guest pass books only where guests may come in (``Venue.admits_guests``):
    a room the door would refuse them at is no use to book."""
    member = session.get(Member, member_id)
    if member is None or list(member.groups) != [GUEST_GROUP]:
        return
    venue = session.get(Venue, venue_id)
    if venue is not None and not venue.admits_guests:
        raise BookingError(
            403,
            "guests_not_admitted",
            f"{venue.name} is for union members only: a guest pass cannot book or sign up there",
        )


def book(
    *,
    session: Session,
    room: Room,
    member_id: str,
    starts_at: datetime,
    ends_at: datetime,
    by: str,
    now: datetime,
    booking_id: str | None = None,
) -> Booking:
    """Book ``member_id`` into the room; idempotent for a repeated ``booking_id``."""
    if not room.active:
        raise BookingError(409, "room_closed", f"room {room.id!r} takes no bookings now")
    starts_at, ends_at = as_utc(starts_at), as_utc(ends_at)
    if booking_id is not None:
        same = session.get(Booking, booking_id)
        if same is not None:
            if (same.room_id, same.member_id, as_utc(same.starts_at), as_utc(same.ends_at)) != (
                room.id, member_id, starts_at, ends_at
            ):  # fmt: skip
                raise BookingError(
                    409, "booking_id_taken", f"booking {booking_id!r} exists for another slot"
                )
            return same  # a retry of a booking that went through
    _check_time(session, room, starts_at, ends_at, now)
    refused = refusal(session, member_id, now)
    if refused is not None:
        raise BookingError(refused.status, refused.code, refused.message)
    refuse_guest_where_not_admitted(session, member_id, room.venue_id)
    lock_bookings(session)  # from here to the commit, nobody else books
    overlapping = (
        select(func.count())
        .select_from(Booking)
        .where(_live(room.id), col(Booking.starts_at) < ends_at, col(Booking.ends_at) > starts_at)
    )
    if session.exec(overlapping.where(col(Booking.member_id) == member_id)).one():
        session.rollback()
        raise BookingError(
            409,
            "booking_conflict",
            f"member {member_id!r} already holds a booking of {room.id!r} at that time",
        )
    if _most_at_once(session, room, starts_at, ends_at) >= room.capacity:
        session.rollback()
        raise BookingError(409, "slot_full", f"{room.id!r} is fully booked then; pick another slot")
    new_id = booking_id or f"bk-{secrets.token_hex(8)}"
    upsert_booking(
        session=session,
        booking_id=new_id,
        venue_id=room.venue_id,
        door=room.door,
        member_id=member_id,
        starts_at=starts_at,
        ends_at=ends_at,
        now=now,
        room_id=room.id,
        booked_by=by[:80],
    )
    stored = session.get(Booking, new_id, populate_existing=True)
    assert stored is not None  # just committed
    return stored


def _most_at_once(session: Session, room: Room, starts_at: datetime, ends_at: datetime) -> int:
    """The largest number of bookings holding any one slot between the two times."""
    rows = session.exec(
        select(Booking.starts_at, Booking.ends_at).where(
            _live(room.id), col(Booking.starts_at) < ends_at, col(Booking.ends_at) > starts_at
        )
    ).all()
    step = timedelta(minutes=room.slot_minutes)
    most, at = 0, starts_at
    while at < ends_at:
        held = sum(1 for s, e in rows if as_utc(s) < at + step and as_utc(e) > at)
        most = max(most, held)
        at += step
    return most


def cancel(*, session: Session, booking: Booking, now: datetime) -> Booking:
    """Withdraw a booking (doors drop it at their next sync); cancelling twice is harmless."""
    if not booking.cancelled:
        cancel_booking(session=session, booking_id=booking.id, now=now)
    session.refresh(booking)
    return booking


def bookings_between(
    *,
    session: Session,
    venue_id: str | None = None,
    member_id: str | None = None,
    start: datetime,
    end: datetime,
    include_cancelled: bool = False,
    limit: int = 2000,
) -> Sequence[Booking]:
    """Bookings overlapping [start, end) of a venue or of a member, by start time."""
    query = select(Booking).where(
        col(Booking.starts_at) < as_utc(end), col(Booking.ends_at) > as_utc(start)
    )
    if venue_id is not None:
        query = query.where(col(Booking.venue_id) == venue_id)
    if member_id is not None:
        query = query.where(col(Booking.member_id) == member_id)
    if not include_cancelled:
        query = query.where(col(Booking.cancelled).is_(False))
    return session.exec(query.order_by(col(Booking.starts_at), col(Booking.id)).limit(limit)).all()
