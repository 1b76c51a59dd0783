"""The points' scheduled job: lapsed redemptions, check-in awards and point expiry."""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job, Step, run_steps
from cloud.points.earning import award_checkins
from cloud.points.expiry import expire_points
from cloud.points.redemption import expire_job

POINTS: Final = "points_upkeep"


def points_jobs(engine: Engine, *, every_s: float, clock: Clock = utc_now) -> list[Job]:
    """All three every ``every_s`` (a minute); each is idempotent, so the daily one (expiry)
    simply finds nothing more to do on later runs."""
    steps: list[Step] = [expire_job, award_checkins, expire_points]
    return [Job(POINTS, Every(every_s), lambda: run_steps(steps, engine, clock()))]
