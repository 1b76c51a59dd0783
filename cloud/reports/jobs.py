"""The report jobs: scheduled reports sent to their subscribers."""

from __future__ import annotations

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Job
from cloud.settings import CloudSettings


def report_jobs(settings: CloudSettings, engine: Engine, *, clock: Clock = utc_now) -> list[Job]:
    """The scheduled report work; none yet."""
    del settings, engine, clock
    return []
