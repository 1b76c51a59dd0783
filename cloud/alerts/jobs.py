"""The alerts' scheduled job: evaluate the rules, then deliver what is due to the webhook."""

from __future__ import annotations

from functools import partial
from typing import Final

from sqlalchemy import Engine

from cloud.alerts.engine import DEFAULT_QUIET_HOUR, evaluate
from cloud.alerts.webhook import WebhookJob
from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job, Step, run_steps

ALERTS: Final = "alert_evaluation"


def alert_jobs(
    engine: Engine,
    *,
    every_s: float,
    webhook: WebhookJob | None,
    clock: Clock = utc_now,
    quiet_hour: int | None = DEFAULT_QUIET_HOUR,
) -> list[Job]:
    """Every ``every_s`` (a minute): the rules as of now, then the webhook deliveries, in this
    order so an alert raised in a run is offered to the webhook in the same run.
    ``quiet_hour`` is the district's occupancy reset, so the over-capacity rule counts as
    the dashboard does."""
    steps: list[Step] = [partial(evaluate, quiet_hour=quiet_hour)]
    if webhook is not None:
        steps.append(webhook)
    return [Job(ALERTS, Every(every_s), lambda: run_steps(steps, engine, clock()))]
