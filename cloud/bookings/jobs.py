"""The bookings' scheduled job: attendance of activities from the doors' scans."""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine

from cloud.bookings.activities import record_door_attendance
from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job

ATTENDANCE: Final = "activity_attendance"


def bookings_jobs(engine: Engine, *, every_s: float, clock: Clock = utc_now) -> list[Job]:
    """Every ``every_s`` (a minute): a member who scanned in is on the roll within a minute."""
    return [Job(ATTENDANCE, Every(every_s), lambda: record_door_attendance(engine, clock()))]
