"""Activities: a manager creates one, members sign up, the door records who came.

There is no separate check-in: a signed-up member's accepted scan at a door of the
activity's venue, from ``ATTEND_EARLY`` before the start to the end, is their attendance,
and pays the activity's points once (``cloud.points.earning.record_attendance`` keys the
posting by activity and member, so a second scan pays nothing). The attendance job runs
with the other jobs; a door that was offline uploads its scans late and they still count
within the door's offline window. Sign-ups without attendance once the activity is over
are its no-shows.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import Engine, update
from sqlmodel import Session, col, func, select

from cloud.bookings.models import Activity, ActivitySignup
from cloud.bookings.rooms import BookingError, refuse_guest_where_not_admitted
from cloud.core.time import as_utc
from cloud.devices.models import Device
from cloud.members.codes import refusal
from cloud.models import DeviceEvent
from cloud.points.earning import record_attendance
from cloud.points.earning_models import MAX_AWARD, ActivityAttendance, AttendanceCreate

logger = logging.getLogger(__name__)

ATTEND_EARLY: Final = timedelta(minutes=30)  # people arrive before a class starts
# How long after an activity a late upload from an offline door is still read for it (the
# door's offline window, cloud.points.earning.DOOR_OFFLINE_WINDOW).
LATE_UPLOADS: Final = timedelta(days=7)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ActivityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=80)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=10_000)
    points: int = Field(default=0, ge=0, le=MAX_AWARD, description="Paid once per attendee.")

    @model_validator(mode="after")
    def _sensible(self) -> ActivityIn:
        if _CONTROL.search(self.title):
            raise ValueError("the title must not hold control characters")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.ends_at - self.starts_at > timedelta(days=1):
            raise ValueError("an activity lasts at most a day; make one per day")
        return self


def create(
    *, session: Session, venue_id: str, activity_in: ActivityIn, by: str, now: datetime
) -> Activity:
    if as_utc(activity_in.ends_at) <= as_utc(now):
        raise BookingError(422, "in_the_past", "that activity would already be over")
    row = Activity(
        id=f"act-{secrets.token_hex(6)}",
        venue_id=venue_id,
        title=activity_in.title,
        starts_at=as_utc(activity_in.starts_at),
        ends_at=as_utc(activity_in.ends_at),
        capacity=activity_in.capacity,
        points=activity_in.points,
        created_by=by[:80],
        created_at=as_utc(now),
    )
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def cancel(*, session: Session, activity: Activity, now: datetime) -> Activity:
    if activity.cancelled_at is None:
        activity.cancelled_at = as_utc(now)
        session.add(activity)
        session.commit()
        session.refresh(activity)
    return activity


def _signed_up(session: Session, activity_id: str) -> int:
    return session.exec(
        select(func.count())
        .select_from(ActivitySignup)
        .where(
            col(ActivitySignup.activity_id) == activity_id,
            col(ActivitySignup.cancelled_at).is_(None),
        )
    ).one()


def sign_up(
    *, session: Session, activity: Activity, member_id: str, by: str, now: datetime
) -> ActivitySignup:
    """Sign a member up; signing up twice is the same sign-up."""
    if activity.cancelled_at is not None:
        raise BookingError(409, "activity_cancelled", f"{activity.title!r} was cancelled")
    if as_utc(activity.ends_at) <= as_utc(now):
        raise BookingError(409, "activity_over", f"{activity.title!r} is over")
    refused = refusal(session, member_id, now)
    if refused is not None:
        raise BookingError(refused.status, refused.code, refused.message)
    refuse_guest_where_not_admitted(session, member_id, activity.venue_id)
    # Sign-ups queue on the activity's row (a write takes its lock on PostgreSQL and the
    # file's write lock on SQLite): the capacity count stays true until the commit.
    session.exec(
        update(Activity).where(col(Activity.id) == activity.id).values(capacity=Activity.capacity)
    )
    row = session.get(ActivitySignup, (activity.id, member_id))
    if row is not None and row.cancelled_at is None:
        session.rollback()
        return row
    if _signed_up(session, activity.id) >= activity.capacity:
        session.rollback()
        raise BookingError(
            409, "activity_full", f"{activity.title!r} is full ({activity.capacity} places)"
        )
    row = row or ActivitySignup(activity_id=activity.id, member_id=member_id, signed_up_by="")
    row.signed_up_at, row.signed_up_by, row.cancelled_at = as_utc(now), by[:80], None
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def withdraw(*, session: Session, activity: Activity, member_id: str, now: datetime) -> None:
    row = session.get(ActivitySignup, (activity.id, member_id))
    if row is None or row.cancelled_at is not None:
        raise BookingError(
            404, "not_signed_up", f"member {member_id!r} is not signed up for {activity.title!r}"
        )
    row.cancelled_at = as_utc(now)
    session.add(row)
    session.commit()


@dataclass(frozen=True, slots=True)
class Roll:
    """An activity's sign-ups, who came, and who did not (once it is over)."""

    signed_up: list[ActivitySignup]
    attended: list[ActivityAttendance]
    no_shows: list[str]


def roll(*, session: Session, activity: Activity, now: datetime) -> Roll:
    signups = list(
        session.exec(
            select(ActivitySignup)
            .where(
                col(ActivitySignup.activity_id) == activity.id,
                col(ActivitySignup.cancelled_at).is_(None),
            )
            .order_by(col(ActivitySignup.signed_up_at), col(ActivitySignup.member_id))
        )
    )
    attended = list(
        session.exec(
            select(ActivityAttendance)
            .where(col(ActivityAttendance.activity_id) == activity.id)
            .order_by(col(ActivityAttendance.recorded_at), col(ActivityAttendance.member_id))
        )
    )
    came = {a.member_id for a in attended}
    over = as_utc(activity.ends_at) <= as_utc(now)
    no_shows = [s.member_id for s in signups if over and s.member_id not in came]
    return Roll(signups, attended, no_shows)


def activities_between(
    *, session: Session, venue_id: str | None, start: datetime, end: datetime
) -> Sequence[Activity]:
    query = select(Activity).where(
        col(Activity.starts_at) < as_utc(end), col(Activity.ends_at) > as_utc(start)
    )
    if venue_id is not None:
        query = query.where(col(Activity.venue_id) == venue_id)
    return session.exec(query.order_by(col(Activity.starts_at), col(Activity.id))).all()


# --- attendance from the door ----------------------------------------------------------------


@dataclass(slots=True)
class AttendanceRun:
    activities: int = 0
    recorded: list[tuple[str, str]] = field(default_factory=list)  # (activity, member)


def _doors_of(session: Session, venue_id: str) -> set[str]:
    rows = session.exec(
        select(Device.id).where(col(Device.venue_id) == venue_id, col(Device.role) == "door")
    )
    return set(rows)


def _scanned(
    session: Session, activity: Activity, members: set[str], doors: set[str]
) -> dict[str, datetime]:
    """Each signed-up member's first accepted scan at the venue's doors during the activity."""
    events = session.exec(
        select(DeviceEvent).where(
            col(DeviceEvent.venue_id) == activity.venue_id,
            col(DeviceEvent.type) == "access.decision",
            col(DeviceEvent.ts) >= as_utc(activity.starts_at) - ATTEND_EARLY,
            col(DeviceEvent.ts) <= as_utc(activity.ends_at),
        )
    )
    first: dict[str, datetime] = {}
    for event in events:
        data = event.data if isinstance(event.data, dict) else {}
        member = data.get("member")
        if data.get("reason") != "accepted" or member not in members:
            continue
        if event.device_id not in doors:
            continue  # only a door of the activity's own venue vouches for who came
        ts = as_utc(event.ts)
        if member not in first or ts < first[member]:
            first[member] = ts
    return first


def record_door_attendance(engine: Engine, now: datetime) -> AttendanceRun:
    """Record every signed-up member seen at the door during an activity, and pay them once."""
    run = AttendanceRun()
    with Session(engine) as session:
        recent = session.exec(
            select(Activity).where(
                col(Activity.cancelled_at).is_(None),
                col(Activity.starts_at) <= as_utc(now) + ATTEND_EARLY,
                col(Activity.ends_at) >= as_utc(now) - LATE_UPLOADS,
            )
        ).all()
        for activity in recent:
            run.activities += 1
            signed = {
                s.member_id for s in roll(session=session, activity=activity, now=now).signed_up
            }
            came = {
                a.member_id
                for a in session.exec(
                    select(ActivityAttendance).where(
                        col(ActivityAttendance.activity_id) == activity.id
                    )
                )
            }
            waiting = signed - came
            if not waiting:
                continue
            seen = _scanned(session, activity, waiting, _doors_of(session, activity.venue_id))
            for member_id in sorted(seen):
                record_attendance(
                    session=session,
                    activity_id=activity.id,
                    attendance=AttendanceCreate(
                        member_id=member_id, venue_id=activity.venue_id, points=activity.points
                    ),
                    by="door",
                    now=now,
                )
                run.recorded.append((activity.id, member_id))
    if run.recorded:
        logger.info("activity attendance: %d recorded from door scans", len(run.recorded))
    return run
