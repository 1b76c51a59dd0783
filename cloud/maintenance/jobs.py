"""The upkeep's scheduled jobs: offline detection and the daily retention."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Daily, Every, Job
from cloud.jobs.settings import JobSettings
from cloud.maintenance import presence, retention
from cloud.maintenance.presence import PresenceChange, PresenceHook

logger = logging.getLogger(__name__)

RETENTION: Final = "retention"
OFFLINE: Final = "offline_detection"


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
    deleted = retention.delete_old_raw(
        engine, now=now, retention=timedelta(days=settings.raw_retention_days)
    )
    logger.info("retention deleted %d raw rows", deleted)
    history = retention.delete_old_history(
        engine,
        now=now,
        keep=retention.HistoryRetention(
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
    changes = presence.detect_offline(
        engine, now=now, offline_after=timedelta(seconds=settings.offline_after_s)
    )
    if changes:
        for hook in presence_hooks:
            try:
                hook(changes)
            except Exception:  # one subscriber's bug must not stop the others
                logger.exception("presence hook %r failed", hook)
    return changes
