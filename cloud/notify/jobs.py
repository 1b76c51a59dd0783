"""The notification jobs: deliveries, escalations and retries."""

from __future__ import annotations

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Job
from cloud.settings import CloudSettings


def notify_jobs(settings: CloudSettings, engine: Engine, *, clock: Clock = utc_now) -> list[Job]:
    """The scheduled notification work; none yet."""
    del settings, engine, clock
    return []
