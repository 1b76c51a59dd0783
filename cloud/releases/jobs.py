"""The rollout job: every ``rollout_interval_s`` the leader takes each running rollout a step."""

from __future__ import annotations

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job
from cloud.releases.progress import advance_all
from cloud.releases.settings import ReleaseSettings

ROLLOUT_JOB = "release_rollouts"


def release_jobs(engine: Engine, settings: ReleaseSettings, *, clock: Clock = utc_now) -> list[Job]:
    def run() -> None:
        advance_all(engine, clock(), settings=settings)

    return [Job(ROLLOUT_JOB, Every(settings.rollout_interval_s), run)]
