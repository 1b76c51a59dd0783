"""The aggregates' scheduled jobs: rollups, the docking push, retention and offline detection."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import httpx
from sqlalchemy import Engine

from cloud.aggregates import docking, maintenance
from cloud.aggregates.maintenance import PresenceChange, PresenceHook
from cloud.aggregates.rollups import ROLLUP_JOB, RollupOptions, run_rollups
from cloud.aggregates.settings import JobSettings
from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Daily, Every, Job

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]

ROLLUPS: Final = ROLLUP_JOB
RETENTION: Final = "retention"
OFFLINE: Final = "offline_detection"
DOCKING: Final = "docking_push"


def aggregate_jobs(
    engine: Engine,
    settings: JobSettings,
    *,
    clock: Clock = utc_now,
    http_client: httpx.Client | None = None,
    sleep: Sleep = time.sleep,
) -> list[Job]:
    """Rollups every ``rollup_interval_s``; the docking push daily at ``docking_push_hour``:05
    local time (a no-op while no docking webhook is set)."""

    def rollups() -> None:
        run_rollups(engine, now=clock(), options=RollupOptions.from_settings(settings))

    def push() -> None:
        run_docking_push(engine, settings, clock=clock, http_client=http_client, sleep=sleep)

    return [
        Job(ROLLUPS, Every(settings.rollup_interval_s), rollups),
        Job(
            DOCKING,
            Daily(settings.docking_push_hour, minute=5, timezone=settings.docking_timezone),
            push,
        ),
    ]


def maintenance_jobs(
    engine: Engine,
    settings: JobSettings,
    *,
    clock: Clock = utc_now,
    presence_hooks: Sequence[PresenceHook] = (),
) -> list[Job]:
    """Offline detection every ``offline_check_s``, telling ``presence_hooks`` what changed;
    retention daily at ``retention_hour_utc``."""

    def offline() -> None:
        run_offline_detection(engine, settings, now=clock(), presence_hooks=presence_hooks)

    def retention() -> None:
        run_retention(engine, settings, now=clock())

    return [
        Job(OFFLINE, Every(settings.offline_check_s), offline),
        Job(RETENTION, Daily(settings.retention_hour_utc), retention),
    ]


def run_retention(engine: Engine, settings: JobSettings, *, now: datetime) -> None:
    """Delete raw rows and old history past their retention."""
    deleted = maintenance.delete_old_raw(
        engine, now=now, retention=timedelta(days=settings.raw_retention_days)
    )
    logger.info("retention deleted %d raw rows", deleted)
    history = maintenance.delete_old_history(
        engine,
        now=now,
        keep=maintenance.HistoryRetention(
            rejections=timedelta(days=settings.rejection_retention_days),
            resolved_alerts=timedelta(days=settings.resolved_alert_retention_days),
            webhook_deliveries=timedelta(days=settings.webhook_delivery_retention_days),
            diagnostics=timedelta(days=settings.diagnostics_retention_days),
        ),
    )
    logger.info("retention deleted old history: %s", history)


def run_offline_detection(
    engine: Engine,
    settings: JobSettings,
    *,
    now: datetime,
    presence_hooks: Sequence[PresenceHook] = (),
) -> list[PresenceChange]:
    """Mark silent devices offline (and back), then tell each hook what changed."""
    changes = maintenance.detect_offline(
        engine, now=now, offline_after=timedelta(seconds=settings.offline_after_s)
    )
    if changes:
        for hook in presence_hooks:
            try:
                hook(changes)
            except Exception:  # one subscriber's bug must not stop the others
                logger.exception("presence hook %r failed", hook)
    return changes


def run_docking_push(
    engine: Engine,
    settings: JobSettings,
    *,
    clock: Clock,
    http_client: httpx.Client | None = None,
    sleep: Sleep = time.sleep,
) -> None:
    """Push the due days to the provincial platform; nothing while no webhook is set."""
    if settings.docking_webhook_url is None:
        return
    client = http_client or httpx.Client(timeout=settings.docking_timeout_s)
    try:
        docking.push_due(engine, settings=settings, client=client, now=clock, sleep=sleep)
    finally:
        if http_client is None:
            client.close()
