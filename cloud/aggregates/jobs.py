"""The aggregates' scheduled jobs: the rollups and the daily push to the provincial platform."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

import httpx
from sqlalchemy import Engine

from cloud.aggregates import docking
from cloud.aggregates.rollups import ROLLUP_JOB, RollupOptions, run_rollups
from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Daily, Every, Job
from cloud.jobs.settings import JobSettings

Sleep = Callable[[float], None]

ROLLUPS: Final = ROLLUP_JOB
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
