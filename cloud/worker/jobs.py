"""The worker app's scheduled job: forget sign-in texts and codes once no limit needs them,
and the phone's hash on a deleted worker's guest pass once the pass has ended."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job
from cloud.worker.accounts import forget_ended_passes
from cloud.worker.signin import forget_old

SIGN_IN_RETENTION: Final = "worker_sign_in_retention"
EVERY: Final = timedelta(hours=1)


def worker_jobs(engine: Engine, *, clock: Clock = utc_now) -> list[Job]:
    """Hourly: texts older than a day (the longest limit) and dead codes are deleted, so the
    sign-in keeps no trace of a phone beyond what its limits need."""

    def forget() -> None:
        with Session(engine) as session:
            forget_old(session, clock())
            forget_ended_passes(session, clock())

    return [Job(SIGN_IN_RETENTION, Every(EVERY.total_seconds()), forget)]
