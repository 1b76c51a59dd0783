"""The scheduled cloud jobs on APScheduler, run only by the elected leader process.

Every cloud process may build a :class:`JobScheduler` and start it; each one tries to lead
every ``leader_renew_s`` and each job checks leadership just before it runs, so exactly one
process does the work and another takes over when the leader stops or dies.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from threading import Lock
from typing import Final
from zoneinfo import ZoneInfo

import httpx
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from cloud.aggregates import docking, maintenance
from cloud.aggregates.leader import LeaderElector, make_elector
from cloud.aggregates.maintenance import PresenceChange, PresenceHook
from cloud.aggregates.rollups import RollupOptions, run_rollups
from cloud.aggregates.settings import JobSettings
from cloud.core.time import Clock, utc_now

logger = logging.getLogger(__name__)

AlertEvaluator = Callable[[Engine, datetime], object]
Sleep = Callable[[float], None]

ROLLUPS: Final = "rollups"
RETENTION: Final = "retention"
OFFLINE: Final = "offline_detection"
ALERTS: Final = "alert_evaluation"
DOCKING: Final = "docking_push"
LEADER: Final = "leader_election"


class JobScheduler:
    """Rollups, retention, offline detection, alert evaluation and the docking push."""

    def __init__(
        self,
        engine: Engine,
        settings: JobSettings,
        *,
        clock: Clock = utc_now,
        elector: LeaderElector | None = None,
        http_client: httpx.Client | None = None,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.elector = elector or make_elector(
            engine, lease=timedelta(seconds=settings.leader_lease_s), clock=clock
        )
        self.runs: Counter[str] = Counter()  # completed runs per job, for tests and metrics
        self.failures: Counter[str] = Counter()
        self._clock = clock
        self._http = http_client
        self._sleep = sleep
        self._alert_evaluators: list[AlertEvaluator] = []
        self._presence_hooks: list[PresenceHook] = []
        self._lock = Lock()
        self._scheduler: BackgroundScheduler | None = None

    def register_alert_evaluator(self, evaluator: AlertEvaluator) -> None:
        """``evaluator(engine, now)`` runs every ``alert_interval_s`` on the leader."""
        with self._lock:
            self._alert_evaluators.append(evaluator)

    def register_presence_hook(self, hook: PresenceHook) -> None:
        """``hook(changes)`` is told about devices the offline job marked off- or online."""
        with self._lock:
            self._presence_hooks.append(hook)

    def is_leader(self) -> bool:
        return self.elector.is_leader()

    # --- the jobs; each can also be called directly (tests, an operator's "run now") ---

    def run_rollups(self) -> None:
        run_rollups(
            self.engine, now=self._clock(), options=RollupOptions.from_settings(self.settings)
        )

    def run_retention(self) -> None:
        deleted = maintenance.delete_old_raw(
            self.engine,
            now=self._clock(),
            retention=timedelta(days=self.settings.raw_retention_days),
        )
        logger.info("retention deleted %d raw rows", deleted)
        history = maintenance.delete_old_history(
            self.engine,
            now=self._clock(),
            keep=maintenance.HistoryRetention(
                rejections=timedelta(days=self.settings.rejection_retention_days),
                resolved_alerts=timedelta(days=self.settings.resolved_alert_retention_days),
                webhook_deliveries=timedelta(days=self.settings.webhook_delivery_retention_days),
                diagnostics=timedelta(days=self.settings.diagnostics_retention_days),
            ),
        )
        logger.info("retention deleted old history: %s", history)

    def run_offline_detection(self) -> list[PresenceChange]:
        changes = maintenance.detect_offline(
            self.engine,
            now=self._clock(),
            offline_after=timedelta(seconds=self.settings.offline_after_s),
        )
        if changes:
            with self._lock:
                hooks = list(self._presence_hooks)
            for hook in hooks:
                try:
                    hook(changes)
                except Exception:  # one subscriber's bug must not stop the others
                    logger.exception("presence hook %r failed", hook)
        return changes

    def run_alert_evaluation(self) -> None:
        with self._lock:
            evaluators = list(self._alert_evaluators)
        now = self._clock()
        for evaluator in evaluators:
            try:
                evaluator(self.engine, now)
            except Exception:  # one rule set's bug must not stop the others
                logger.exception("alert evaluator %r failed", evaluator)

    def run_docking_push(self) -> None:
        if self.settings.docking_webhook_url is None:
            return
        client = self._http or httpx.Client(timeout=self.settings.docking_timeout_s)
        try:
            docking.push_due(
                self.engine,
                settings=self.settings,
                client=client,
                now=self._clock,
                sleep=self._sleep,
            )
        finally:
            if self._http is None:
                client.close()

    # --- lifecycle ---

    def start(self) -> None:
        """Try to lead now, then run the schedule in a background thread."""
        if self._scheduler is not None:
            raise RuntimeError("this JobScheduler is already started")
        s = self.settings
        scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        )

        def every(seconds: float) -> IntervalTrigger:
            return IntervalTrigger(seconds=seconds, timezone=UTC)

        scheduler.add_job(self._elect, every(s.leader_renew_s), id=LEADER)
        jobs: Sequence[tuple[str, Callable[[], object], object]] = (
            (ROLLUPS, self.run_rollups, every(s.rollup_interval_s)),
            (OFFLINE, self.run_offline_detection, every(s.offline_check_s)),
            (ALERTS, self.run_alert_evaluation, every(s.alert_interval_s)),
            (RETENTION, self.run_retention, CronTrigger(hour=s.retention_hour_utc, timezone=UTC)),
            (
                DOCKING,
                self.run_docking_push,
                CronTrigger(
                    hour=s.docking_push_hour, minute=5, timezone=ZoneInfo(s.docking_timezone)
                ),
            ),
        )
        for name, job, trigger in jobs:
            scheduler.add_job(self._guarded(name, job), trigger, id=name)
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


def start_jobs(
    engine: Engine,
    settings: JobSettings,
    *,
    alert_evaluators: Sequence[AlertEvaluator] = (),
    presence_hooks: Sequence[PresenceHook] = (),
) -> JobScheduler | None:
    """Start the jobs in a cloud process (``None`` when ``settings.enabled`` is off).

    Call from every process that may run jobs (ingest, serve); only the leader does the
    work. Call ``.stop()`` on shutdown so another process takes over at once.
    """
    if not settings.enabled:
        return None
    jobs = JobScheduler(engine, settings)
    for evaluator in alert_evaluators:
        jobs.register_alert_evaluator(evaluator)
    for hook in presence_hooks:
        jobs.register_presence_hook(hook)
    jobs.start()
    return jobs
