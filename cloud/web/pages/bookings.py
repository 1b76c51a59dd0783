"""A venue's bookings for its admin and managers: every room's slots by day or by week in the
venue's time, booking a member into a slot, cancelling, exporting, and setting up the rooms.

Reads go through ``cloud.bookings.rooms`` (rooms, slots, bookings_between), the functions the
bookings API answers from; the forms and buttons call that API with the sign-in cookie
(static/bookings.js fills in what a form cannot say by itself), so who may book and why a
booking is refused are decided in one place. Managers see members as pseudonyms.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from cloud.access.models import Booking
from cloud.aggregates.timezones import local_date, venue_zone
from cloud.api.auth_deps import scoped_venue
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.bookings import rooms
from cloud.bookings.models import Room
from cloud.core.time import as_utc
from cloud.web.i18n import Messages
from cloud.web.pages import booking_words
from cloud.web.pages.calendar import (
    VIEWS,
    Span,
    View,
    local_day,
    member_names,
    span,
    within_reach,
)
from cloud.web.render import render
from cloud.web.session import Manager

router = APIRouter(include_in_schema=False)
SLOT_LENGTHS: Final = (15, 30, 45, 60, 90, 120, 180, 240)

_OWN: Final[Messages] = {
    "bookings.title": ("房间预约", "Room bookings"),
    "bookings.to_venue": ("返回阵地", "Back to the venue"),
    "bookings.to_activities": ("活动", "Activities"),
    "bookings.view.day": ("日", "Day"),
    "bookings.view.week": ("周", "Week"),
    "bookings.prev.day": ("前一天", "Previous day"),
    "bookings.next.day": ("后一天", "Next day"),
    "bookings.prev.week": ("上一周", "Previous week"),
    "bookings.next.week": ("下一周", "Next week"),
    "bookings.today": ("今天", "Today"),
    "bookings.week_of": ("{first} 至 {last}", "{first} to {last}"),
    "bookings.count": ("共 {n} 个预约", "Bookings: {n}"),
    "bookings.zone": ("时区：{tz}", "Time zone: {tz}"),
    "bookings.export.csv": ("导出 CSV", "Export CSV"),
    "bookings.export.xlsx": ("导出 Excel", "Export Excel"),
    "bookings.pseudonymized": (
        "会员编号已匿名化：同一会员始终显示同一代号",
        "Member ids are pseudonymized: the same member always shows the same code",
    ),
    "bookings.by_door": ("按门预约：{door}", "Booked by door: {door}"),
    "bookings.inactive": ("已停用", "inactive"),
    "bookings.off_grid": ("不在时段内", "outside the slots"),
    "bookings.no_slots": ("这一天不开放", "Not open this day"),
    "bookings.no_rooms": (
        "还没有可预约的房间。请先在下方“房间设置”中添加房间。",
        "No room can be booked yet. Add one under “Rooms” below.",
    ),
    "bookings.nothing": ("这一天没有预约", "No bookings this day"),
    "bookings.booked_of": ("{booked}/{capacity}", "{booked}/{capacity}"),
    "bookings.full": ("已满", "full"),
    "bookings.free": ("空闲", "free"),
    "bookings.cancel": ("取消", "Cancel"),
    "bookings.cancel_confirm": (
        "确定取消 {when} 的这个预约吗？",
        "Cancel this booking at {when}?",
    ),
    "bookings.cancelled": ("预约已取消", "The booking is cancelled"),
    "bookings.form.title": ("为会员预约", "Book for a member"),
    "bookings.form.member": ("会员号", "Member id"),
    "bookings.form.member_hint": ("会员卡上的编号", "The id on their card"),
    "bookings.form.day": ("日期", "Day"),
    "bookings.form.room": ("房间", "Room"),
    "bookings.form.slot": ("时段", "Slot"),
    "bookings.form.slot_free": ("{time}（剩 {free} 位）", "{time} ({free} free)"),
    "bookings.form.slot_full": ("{time}（已满）", "{time} (full)"),
    "bookings.form.no_slot": ("这一天没有可预约的时段", "No slot left to book this day"),
    "bookings.form.submit": ("预约", "Book"),
    "bookings.form.done": ("预约成功", "Booked"),
    "bookings.rooms": ("房间设置（{n} 间）", "Rooms ({n})"),
    "bookings.rooms.help": (
        "房间门口的门禁须设为“凭预约进入”。时段从开放时间起按时长划分，结束时间须正好是整数个时段。",
        (
            "The room's door must admit by booking. Slots run from the opening time, each as "
            "long as set; the closing time must end a whole slot."
        ),
    ),
    "bookings.room.edit": ("修改", "Edit"),
    "bookings.room.new": ("添加房间", "Add a room"),
    "bookings.room.id": ("房间编号", "Room id"),
    "bookings.room.id_hint": ("小写字母、数字和 -，如 court-1", "lower-case, digits, -: court-1"),
    "bookings.room.door": ("门禁编号", "Door"),
    "bookings.room.name_zh": ("中文名称", "Name (Chinese)"),
    "bookings.room.name_en": ("英文名称", "Name (English)"),
    "bookings.room.kind": ("类型", "Kind"),
    "bookings.room.capacity": ("每个时段可约人数", "Bookings per slot"),
    "bookings.room.slot_minutes": ("时段长度（分钟）", "Slot length (minutes)"),
    "bookings.room.opens": ("开放时间", "Opens"),
    "bookings.room.closes": ("结束时间", "Closes"),
    "bookings.room.days_ahead": ("可提前预约天数", "Bookable days ahead"),
    "bookings.room.active": ("接受预约", "Takes bookings"),
    "bookings.room.yes": ("是", "yes"),
    "bookings.room.no": ("否（停用）", "no (closed)"),
    "bookings.room.save": ("保存", "Save"),
    "bookings.room.saved": ("已保存", "Saved"),
    "bookings.reason.invalid_request": (
        (
            "请检查填写的内容：结束时间须晚于开放时间，"
            "且正好是整数个时段（如 08:00–22:00，每段 60 分钟）。"
        ),
        (
            "Check the form: the room must close after it opens, at the end of a whole slot "
            "(e.g. 08:00–22:00 in 60-minute slots)."
        ),
    ),
    "bookings.room.summary": (
        "{kind} · 每时段 {capacity} 人 · {minutes} 分钟 · {opens}–{closes} · 提前 {days} 天",
        "{kind} · {capacity} per slot · {minutes} min · {opens}–{closes} · {days} days ahead",
    ),
}
# This page's words and the ones the booking pages share (registered once, here).
TEXT: Final[Messages] = {**booking_words.TEXT, **_OWN}


@dataclass(frozen=True, slots=True)
class Held:
    """One booking as the viewer may see it."""

    id: str
    member: str  # an id for an admin, a pseudonym for a manager
    starts_at: datetime
    ends_at: datetime
    cancellable: bool  # not over yet


@dataclass(frozen=True, slots=True)
class SlotRow:
    starts_at: datetime
    ends_at: datetime
    capacity: int | None  # None: a booking off the room's slots (hours changed, by door)
    held: list[Held]

    @property
    def full(self) -> bool:
        return self.capacity is not None and len(self.held) >= self.capacity


@dataclass(frozen=True, slots=True)
class Lane:
    """A room of the venue, or a door the union's system booked without naming a room."""

    key: str
    room: Room | None
    door: str

    @property
    def bookable(self) -> bool:
        return self.room is not None and self.room.active


@dataclass(frozen=True, slots=True)
class LaneDay:
    lane: Lane
    rows: list[SlotRow]


@dataclass(frozen=True, slots=True)
class WeekDay:
    day: date
    cells: list[list[Held]]  # one per lane of the week, in the lanes' order

    @property
    def count(self) -> int:
        return sum(len(cell) for cell in self.cells)


@dataclass(frozen=True, slots=True)
class Choice:
    starts_at: datetime
    ends_at: datetime
    free: int


ByLane = dict[str, list[Booking]]


def lanes_of(all_rooms: Sequence[Room], bookings: Sequence[Booking]) -> tuple[list[Lane], ByLane]:
    """The rooms to show (active ones, and closed ones still holding bookings), then a lane per
    door booked without a room; and each booking in its lane."""
    known = {r.id for r in all_rooms}
    by_lane: ByLane = defaultdict(list)
    # In a slot, who booked first comes first (a booking's version grows with each write).
    for b in sorted(bookings, key=lambda b: (as_utc(b.starts_at), b.version)):
        by_lane[b.room_id if b.room_id in known else f"door:{b.door}"].append(b)
    lanes = [Lane(r.id, r, r.door) for r in all_rooms if r.active or r.id in by_lane]
    doors = sorted(k for k in by_lane if k.startswith("door:"))
    lanes += [Lane(k, None, k.removeprefix("door:")) for k in doors]
    return lanes, dict(by_lane)


def _overlaps(b: Booking, starts_at: datetime, ends_at: datetime) -> bool:
    return as_utc(b.starts_at) < ends_at and as_utc(b.ends_at) > starts_at


def _day_rows(
    slots: list[rooms.Slot], mine: list[Booking], held: Callable[[Booking], Held]
) -> list[SlotRow]:
    rows: list[SlotRow] = []
    placed: set[str] = set()
    for slot in slots:
        inside = [b for b in mine if _overlaps(b, slot.starts_at, slot.ends_at)]
        placed.update(b.id for b in inside)
        rows.append(SlotRow(slot.starts_at, slot.ends_at, slot.capacity, [held(b) for b in inside]))
    rows += [
        SlotRow(as_utc(b.starts_at), as_utc(b.ends_at), None, [held(b)])
        for b in mine
        if b.id not in placed
    ]
    return sorted(rows, key=lambda r: r.starts_at)


def week_days(
    shown: Span, lanes: list[Lane], by_lane: ByLane, held: Callable[[Booking], Held], zone: str
) -> list[WeekDay]:
    """Each day of the week with its bookings per lane, by the day they start on locally."""
    tz = venue_zone(zone)
    return [
        WeekDay(
            day,
            [
                [held(b) for b in by_lane.get(lane.key, []) if local_day(b.starts_at, tz) == day]
                for lane in lanes
            ],
        )
        for day in shown.days
    ]


def day_lanes(
    lanes: list[Lane],
    slots: dict[str, list[rooms.Slot]],
    by_lane: ByLane,
    held: Callable[[Booking], Held],
) -> list[LaneDay]:
    return [
        LaneDay(lane, _day_rows(slots.get(lane.key, []), by_lane.get(lane.key, []), held))
        for lane in lanes
    ]


def choices(slots: dict[str, list[rooms.Slot]], now: datetime) -> dict[str, list[Choice]]:
    """Each bookable room's slots on the form's day that are not over yet."""
    return {
        room_id: [
            Choice(s.starts_at, s.ends_at, s.free) for s in room_slots if s.ends_at > as_utc(now)
        ]
        for room_id, room_slots in slots.items()
    }


def _held(name: Callable[[str], str], now: datetime) -> Callable[[Booking], Held]:
    def held(b: Booking) -> Held:
        ends = as_utc(b.ends_at)
        return Held(b.id, name(b.member_id), as_utc(b.starts_at), ends, ends > as_utc(now))

    return held


@router.get("/venues/{venue_id}/bookings", response_class=HTMLResponse)
def bookings_page(
    *,
    venue_id: str,
    request: Request,
    viewer: Manager,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
    view: View = "day",
    day: date | None = None,
) -> HTMLResponse:
    venue = scoped_venue(session=session, principal=viewer.principal, venue_id=venue_id)
    zone = venue_zone(venue.timezone)
    today = local_date(now, zone)
    shown = span(view, within_reach(day, today), zone)
    all_rooms = rooms.rooms(session=session, venue_id=venue.id)
    found = rooms.bookings_between(
        session=session, venue_id=venue.id, start=shown.start, end=shown.end
    )
    lanes, by_lane = lanes_of(all_rooms, found)
    held = _held(member_names(viewer.principal, state.auth.pseudonym_key), now)
    slots = _slots(session, lanes, shown.day)
    week = view == "week"
    return render(
        request,
        viewer,
        "bookings.html",
        venue=venue,
        tz=venue.timezone,
        now=as_utc(now),
        today=today,
        shown=shown,
        views=VIEWS,
        lanes=lanes,
        day_lanes=[] if week else day_lanes(lanes, slots, by_lane, held),
        week=week_days(shown, lanes, by_lane, held, venue.timezone) if week else [],
        count=len(found),
        choices=choices({k: v for k, v in slots.items() if _bookable(lanes, k)}, now),
        furthest=today + timedelta(days=max((r.days_ahead for r in all_rooms), default=0)),
        all_rooms=all_rooms,
        kinds=booking_words.ROOM_KINDS,
        slot_lengths=SLOT_LENGTHS,
        pseudonymized=viewer.principal.pseudonymize_members,
        # A form's invalid value here is nearly always a room's hours not fitting its slots.
        reasons=booking_words.staff_reasons(invalid_request="bookings.reason.invalid_request"),
    )


def _bookable(lanes: list[Lane], key: str) -> bool:
    return any(lane.key == key and lane.bookable for lane in lanes)


def _slots(session: Session, lanes: list[Lane], day: date) -> dict[str, list[rooms.Slot]]:
    """The slots of each shown room on ``day`` (a closed room's too: bookings still hold them)."""
    return {
        lane.key: rooms.slots(session=session, room=lane.room, day=day)
        for lane in lanes
        if lane.room is not None
    }
