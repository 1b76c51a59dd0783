"""A venue's activities for its admin and managers: upcoming and recent ones with sign-ups
against capacity and, once over, who came and who did not; create, cancel, sign a member up.

Reads go through ``cloud.bookings.activities`` (activities_between, roll), the functions the
activities API answers from; attendance is what the door recorded (record_door_attendance),
never typed in here. The forms and buttons call the API with the sign-in cookie. Managers see
members as pseudonyms; times are the venue's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from cloud.aggregates.timezones import local_date, venue_zone
from cloud.api.auth_deps import scoped_venue
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.bookings import activities
from cloud.bookings.activities import ATTEND_EARLY
from cloud.bookings.models import Activity
from cloud.core.time import as_utc
from cloud.points.earning_models import MAX_AWARD
from cloud.web.i18n import Messages
from cloud.web.pages import booking_words
from cloud.web.pages.calendar import member_names
from cloud.web.render import render
from cloud.web.session import Manager

router = APIRouter(include_in_schema=False)
RECENT: Final = timedelta(days=30)  # over activities shown, for their roll and no-shows
AHEAD: Final = timedelta(days=60)
State = Literal["upcoming", "running", "over", "cancelled"]
Mark = Literal["came", "no_show", "signed_up"]
BADGES: Final = {"upcoming": "ok", "running": "warn", "over": "muted", "cancelled": "bad"}

TEXT: Final[Messages] = {
    "activities.title": ("活动", "Activities"),
    "activities.to_bookings": ("房间预约", "Room bookings"),
    "activities.upcoming": ("即将开始与进行中", "Upcoming and running"),
    "activities.recent": ("最近结束（30 天内）", "Recently over (last 30 days)"),
    "activities.none_upcoming": ("没有即将开始的活动", "No activity coming up"),
    "activities.none_recent": ("最近 30 天没有结束的活动", "No activity ended in the last 30 days"),
    "activities.state.upcoming": ("未开始", "upcoming"),
    "activities.state.running": ("进行中", "running"),
    "activities.state.over": ("已结束", "over"),
    "activities.state.cancelled": ("已取消", "cancelled"),
    "activities.signed_up": ("报名 {n} / {capacity}", "Signed up {n} / {capacity}"),
    "activities.attended": ("到场 {n}", "Came {n}"),
    "activities.no_shows": ("未到 {n}", "Did not come {n}"),
    "activities.points": ("到场得 {n} 积分", "{n} points for coming"),
    "activities.roll": ("名单", "Roll"),
    "activities.roll.came": ("已到场", "came"),
    "activities.roll.no_show": ("未到场", "did not come"),
    "activities.roll.signed_up": ("已报名", "signed up"),
    "activities.roll.empty": ("还没有人报名", "Nobody has signed up yet"),
    "activities.roll.how": (
        "到场以活动期间（开始前 {early} 分钟起）在本阵地门禁刷码为准，积分自动发放一次。",
        (
            "Attendance is a scan at this venue's door during the activity (from {early} "
            "minutes before it starts); the points are paid once, by themselves."
        ),
    ),
    "activities.export.csv": ("导出名单 CSV", "Roll as CSV"),
    "activities.export.xlsx": ("导出名单 Excel", "Roll as Excel"),
    "activities.cancel": ("取消活动", "Cancel the activity"),
    "activities.cancel_confirm": (
        "确定取消活动“{title}”吗？已报名的会员将无法参加。",
        "Cancel “{title}”? Members signed up for it can no longer come.",
    ),
    "activities.cancelled": ("活动已取消", "The activity is cancelled"),
    "activities.signup": ("为会员报名", "Sign a member up"),
    "activities.signup.member": ("会员号", "Member id"),
    "activities.signup.hint": ("会员卡上的编号", "The id on their card"),
    "activities.signup.submit": ("报名", "Sign up"),
    "activities.signup.done": ("报名成功", "Signed up"),
    "activities.new": ("新建活动", "New activity"),
    "activities.new.title": ("活动名称", "Title"),
    "activities.new.title_hint": ("如：急救培训", "e.g. First aid class"),
    "activities.new.day": ("日期", "Date"),
    "activities.new.starts": ("开始时间", "Starts"),
    "activities.new.ends": ("结束时间", "Ends"),
    "activities.new.capacity": ("名额", "Places"),
    "activities.new.points": ("到场积分", "Points for coming"),
    "activities.new.zone": ("按阵地当地时间填写（{tz}）。", "In the venue's local time ({tz})."),
    "activities.new.submit": ("创建活动", "Create"),
    "activities.new.done": ("已创建活动", "Activity created"),
    "activities.reason.invalid_request": (
        "请检查名称、日期和时间：结束须晚于开始，活动最长一天，名额至少 1 个。",
        (
            "Check the title, date and times: it must end after it starts, last at most a "
            "day, and have at least one place."
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class RollRow:
    member: str  # an id for an admin, a pseudonym for a manager
    mark: Mark


@dataclass(frozen=True, slots=True)
class ActivityRow:
    activity: Activity
    day: date  # the venue's local day it starts on
    state: State
    roll: list[RollRow]
    capacity: int

    @property
    def signed_up(self) -> int:
        return len(self.roll)

    def count(self, mark: Mark) -> int:
        return sum(1 for r in self.roll if r.mark == mark)

    @property
    def badge(self) -> str:
        return BADGES[self.state]

    @property
    def open(self) -> bool:
        """Still takes sign-ups and may be cancelled."""
        return self.state in ("upcoming", "running")


def state_of(activity: Activity, now: datetime) -> State:
    if activity.cancelled_at is not None:
        return "cancelled"
    if as_utc(activity.ends_at) <= as_utc(now):
        return "over"
    return "running" if as_utc(activity.starts_at) <= as_utc(now) else "upcoming"


def activity_row(
    session: Session,
    activity: Activity,
    *,
    now: datetime,
    zone: ZoneInfo,
    name: Callable[[str], str],
) -> ActivityRow:
    roll = activities.roll(session=session, activity=activity, now=now)
    came = {a.member_id for a in roll.attended}
    missed = set(roll.no_shows)

    def mark(member_id: str) -> Mark:
        if member_id in came:
            return "came"
        return "no_show" if member_id in missed else "signed_up"

    rows = [RollRow(name(s.member_id), mark(s.member_id)) for s in roll.signed_up]
    day = local_date(activity.starts_at, zone)
    return ActivityRow(activity, day, state_of(activity, now), rows, activity.capacity)


@router.get("/venues/{venue_id}/activities", response_class=HTMLResponse)
def activities_page(
    *,
    venue_id: str,
    request: Request,
    viewer: Manager,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
) -> HTMLResponse:
    venue = scoped_venue(session=session, principal=viewer.principal, venue_id=venue_id)
    zone = venue_zone(venue.timezone)
    name = member_names(viewer.principal, state.auth.pseudonym_key)
    found = activities.activities_between(
        session=session, venue_id=venue.id, start=as_utc(now) - RECENT, end=as_utc(now) + AHEAD
    )
    rows = [activity_row(session, a, now=now, zone=zone, name=name) for a in found]
    return render(
        request,
        viewer,
        "activities.html",
        venue=venue,
        tz=venue.timezone,
        zone=zone.key,
        today=local_date(now, zone),
        upcoming=[r for r in rows if as_utc(r.activity.ends_at) > as_utc(now)],
        recent=[r for r in reversed(rows) if as_utc(r.activity.ends_at) <= as_utc(now)],
        early=int(ATTEND_EARLY.total_seconds() // 60),
        max_points=MAX_AWARD,
        pseudonymized=viewer.principal.pseudonymize_members,
        reasons=booking_words.staff_reasons(invalid_request="activities.reason.invalid_request"),
    )
