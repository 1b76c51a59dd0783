"""The scheduled cloud jobs on APScheduler, run only by the elected leader process.

Every cloud process may build a :class:`JobScheduler` and start it; each one tries to lead
every ``leader_renew_s`` and each job checks leadership just before it runs, so exactly one
process does the work and another takes over when the leader stops or dies. The scheduler
knows no domain: each domain builds its own :class:`~cloud.jobs.job.Job` values and the
composition root (cloud/service.py) hands them over.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, timedelta
from threading import Lock
from typing import Final, Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job, Schedule
from cloud.jobs.leader import LeaderElector, make_elector

logger = logging.getLogger(__name__)

LEADER: Final = "leader_election"


class LeaderTiming(Protocol):
    """What the scheduler reads of the settings (``JobSettings`` is one)."""

    @property
    def leader_lease_s(self) -> float: ...

    @property
    def leader_renew_s(self) -> float: ...


def trigger_of(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger that runs a job on ``schedule``."""
    if isinstance(schedule, Every):
        return IntervalTrigger(seconds=schedule.seconds, timezone=UTC)
    zone = UTC if schedule.timezone == "UTC" else ZoneInfo(schedule.timezone)
    return CronTrigger(hour=schedule.hour, minute=schedule.minute, timezone=zone)


class JobScheduler:
    """Runs the registered jobs on their schedules while this process leads."""

    def __init__(
        self,
        engine: Engine,
        settings: LeaderTiming,
        *,
        jobs: Sequence[Job] = (),
        clock: Clock = utc_now,
        elector: LeaderElector | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.elector = elector or make_elector(
            engine, lease=timedelta(seconds=settings.leader_lease_s), clock=clock
        )
        self.runs: Counter[str] = Counter()  # completed runs per job, for tests and metrics
        self.failures: Counter[str] = Counter()
        self._jobs: dict[str, Job] = {}
        self._lock = Lock()
        self._scheduler: BackgroundScheduler | None = None
        for job in jobs:
            self.register(job)

    def register(self, job: Job) -> None:
        """Add a job; it runs from :meth:`start` on. Names are unique."""
        with self._lock:
            if self._scheduler is not None:
                raise RuntimeError(f"register {job.name!r} before starting the scheduler")
            if job.name in self._jobs or job.name == LEADER:
                raise ValueError(f"a job named {job.name!r} is already registered")
            self._jobs[job.name] = job

    def is_leader(self) -> bool:
        return self.elector.is_leader()

    # --- lifecycle ---

    def start(self) -> None:
        """Try to lead now, then run the schedule in a background thread."""
        if self._scheduler is not None:
            raise RuntimeError("this JobScheduler is already started")
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )
        renew = Every(self.settings.leader_renew_s)
        scheduler.add_job(self._elect, trigger_of(renew), id=LEADER)
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            scheduler.add_job(
                self._guarded(job.name, job.run), trigger_of(job.schedule), id=job.name
            )
        self._elect()
        scheduler.start()
        self._scheduler = scheduler

    def stop(self, *, release: bool = True) -> None:
        """Stop the schedule and (by default) hand leadership over at once.

        ``release=False`` leaves a lease to lapse, as a crashed process would.
        """
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
        if release:
            self.elector.release()

    def _elect(self) -> None:
        try:
            self.elector.try_lead()
        except Exception:  # the election job must survive a database outage
            logger.exception("leader election failed")

    def _guarded(self, name: str, job: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if not self.elector.is_leader():
                return
            try:
                job()
            except Exception:  # a failed run is logged and retried at the next tick
                self.failures[name] += 1
                logger.exception("scheduled job %s failed", name)
            else:
                self.runs[name] += 1

        run.__name__ = f"guarded_{name}"
        return run
