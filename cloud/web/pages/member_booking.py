"""The member page's booking part: choose a venue, a room and a day, see the slots still
free and the venue's coming activities, and what this member already holds of them.

Reads go through ``cloud.bookings`` (rooms, slots, bookings_between, activities_between, roll),
as the bookings API does; booking, cancelling, signing up and withdrawing are buttons calling
that API with the sign-in cookie, where a member may act for themselves only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from sqlmodel import Session, col, select

from cloud.aggregates.timezones import local_date, venue_zone
from cloud.bookings import activities, rooms
from cloud.bookings.models import Activity, ActivitySignup, Room
from cloud.core.time import as_utc
from cloud.models import Venue
from cloud.web.i18n import Messages

ACTIVITIES_AHEAD: Final = timedelta(days=30)
MAX_ACTIVITIES: Final = 20

TEXT: Final[Messages] = {
    "member.book": ("预约房间", "Book a room"),
    "member.book.venue": ("阵地", "Venue"),
    "member.book.room": ("房间", "Room"),
    "member.book.day": ("日期", "Day"),
    "member.book.show": ("查看空闲时段", "Show free slots"),
    "member.book.no_venues": ("暂时没有可以预约的阵地", "No venue takes bookings yet"),
    "member.book.no_rooms": ("这个阵地没有可预约的房间", "This venue has no room to book"),
    "member.book.no_slots": ("这一天没有可预约的时段了", "No slot is left to book this day"),
    "member.book.free": ("剩 {n} 位", "{n} free"),
    "member.book.full": ("已满", "full"),
    "member.book.mine": ("已预约", "booked"),
    "member.book.submit": ("预约", "Book"),
    "member.book.done": ("已预约 {when}", "Booked for {when}"),
    "member.book.cancel": ("取消预约", "Cancel"),
    "member.book.cancel_confirm": ("确定取消 {when} 的预约吗？", "Cancel your booking at {when}?"),
    "member.book.cancelled": ("预约已取消", "Booking cancelled"),
    "member.act": ("活动", "Activities"),
    "member.act.mine": ("我报名的活动", "I am signed up for"),
    "member.act.at": ("{venue} 近期活动", "Coming up at {venue}"),
    "member.act.none": ("近期没有可报名的活动", "No activity to sign up for soon"),
    "member.act.places": ("已报名 {n} / {capacity}", "{n} of {capacity} places taken"),
    "member.act.points": ("到场得 {n} 积分", "{n} points for coming"),
    "member.act.full": ("名额已满", "full"),
    "member.act.signup": ("报名", "Sign up"),
    "member.act.signed_up": ("已报名“{title}”", "Signed up for “{title}”"),
    "member.act.withdraw": ("取消报名", "Withdraw"),
    "member.act.withdraw_confirm": ("确定不参加“{title}”了吗？", "Withdraw from “{title}”?"),
    "member.act.withdrawn": ("已取消报名", "You are no longer signed up"),
    "member.act.how": (
        "活动开始前 {early} 分钟起在该阵地门口刷入场码即记为到场，积分自动发放。",
        (
            "Scan your door code at the venue from {early} minutes before it starts: that is "
            "your attendance, and the points follow by themselves."
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class SlotOffer:
    starts_at: datetime
    ends_at: datetime
    free: int
    mine: bool  # this member holds a booking of the room then


@dataclass(frozen=True, slots=True)
class ActivityOffer:
    activity: Activity
    venue: Venue
    day: date  # the venue's local day it starts on
    signed_up: int

    @property
    def full(self) -> bool:
        return self.signed_up >= self.activity.capacity


@dataclass(frozen=True, slots=True)
class Chooser:
    venues: list[Venue]
    venue: Venue | None
    rooms: list[Room]
    room: Room | None
    days: list[date]
    day: date | None
    today: date | None
    slots: list[SlotOffer]
    activities: list[ActivityOffer]  # at the chosen venue, that this member has not joined
    mine: list[ActivityOffer]  # this member's coming sign-ups, at any venue


def offered_venues(session: Session, now: datetime, *, guest: bool = False) -> list[Venue]:
    """Venues with a room taking bookings or an activity still to come (for a guest pass,
    only those that admit guests)."""
    with_rooms = select(Room.venue_id).where(col(Room.active))
    with_activities = select(Activity.venue_id).where(
        col(Activity.cancelled_at).is_(None), col(Activity.ends_at) > as_utc(now)
    )
    query = select(Venue).where(
        col(Venue.id).in_(with_rooms.union(with_activities).scalar_subquery())
    )
    if guest:
        query = query.where(col(Venue.admits_guests))
    return list(session.exec(query.order_by(col(Venue.name), col(Venue.id))))


def _offer(session: Session, activity: Activity, venue: Venue, now: datetime) -> ActivityOffer:
    roll = activities.roll(session=session, activity=activity, now=now)
    day = local_date(activity.starts_at, venue_zone(venue.timezone))
    return ActivityOffer(activity, venue, day, len(roll.signed_up))


def my_signups(session: Session, member_id: str, now: datetime) -> list[ActivityOffer]:
    rows = session.exec(
        select(Activity, Venue)
        .join(ActivitySignup, col(ActivitySignup.activity_id) == col(Activity.id))
        .join(Venue, col(Venue.id) == col(Activity.venue_id))
        .where(
            col(ActivitySignup.member_id) == member_id,
            col(ActivitySignup.cancelled_at).is_(None),
            col(Activity.cancelled_at).is_(None),
            col(Activity.ends_at) > as_utc(now),
        )
        .order_by(col(Activity.starts_at), col(Activity.id))
        .limit(MAX_ACTIVITIES)
    ).all()
    return [_offer(session, a, v, now) for a, v in rows]


def _slot_offers(
    session: Session, room: Room, day: date, member_id: str, now: datetime
) -> list[SlotOffer]:
    """The room's slots on ``day`` that are not over and not too far ahead to book."""
    furthest = as_utc(now) + timedelta(days=room.days_ahead)
    found = rooms.slots(session=session, room=room, day=day)
    if not found:
        return []
    held = [
        b
        for b in rooms.bookings_between(
            session=session, member_id=member_id, start=found[0].starts_at, end=found[-1].ends_at
        )
        if b.room_id == room.id
    ]
    return [
        SlotOffer(
            s.starts_at,
            s.ends_at,
            s.free,
            any(as_utc(b.starts_at) < s.ends_at and as_utc(b.ends_at) > s.starts_at for b in held),
        )
        for s in found
        if s.ends_at > as_utc(now) and s.starts_at <= furthest
    ]


def _days(room: Room | None, today: date | None) -> list[date]:
    if room is None or today is None:
        return []
    return [today + timedelta(days=n) for n in range(room.days_ahead + 1)]


def _coming(
    session: Session, venue: Venue | None, joined: set[str], now: datetime
) -> list[ActivityOffer]:
    """The venue's activities still to come or running, that this member has not joined."""
    if venue is None:
        return []
    found = activities.activities_between(
        session=session, venue_id=venue.id, start=now, end=as_utc(now) + ACTIVITIES_AHEAD
    )
    open_ = [a for a in found if a.cancelled_at is None and a.id not in joined]
    return [_offer(session, a, venue, now) for a in open_[:MAX_ACTIVITIES]]


def choose(
    session: Session,
    member_id: str,
    *,
    venue_id: str | None,
    room_id: str | None,
    day: date | None,
    now: datetime,
    usual_venue: str | None,
    guest: bool = False,
) -> Chooser:
    """What the booking part shows for the choices in the address (the first of each if none
    or a stale one was asked for; ``usual_venue`` before the first venue)."""
    venues = offered_venues(session, now, guest=guest)
    by_id = {v.id: v for v in venues}
    venue = by_id.get(venue_id or "") or by_id.get(usual_venue or "") or next(iter(venues), None)
    today = local_date(now, venue_zone(venue.timezone)) if venue else None
    active = rooms.rooms(session=session, venue_id=venue.id, active_only=True) if venue else []
    room = next((r for r in active if r.id == room_id), next(iter(active), None))
    days = _days(room, today)
    chosen_day = day if day in days else next(iter(days), None)
    mine = my_signups(session, member_id, now)
    slots = []
    if room is not None and chosen_day is not None:
        slots = _slot_offers(session, room, chosen_day, member_id, now)
    return Chooser(
        venues=venues,
        venue=venue,
        rooms=active,
        room=room,
        days=days,
        day=chosen_day,
        today=today,
        slots=slots,
        activities=_coming(session, venue, {o.activity.id for o in mine}, now),
        mine=mine,
    )
