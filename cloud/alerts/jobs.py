"""The alerts' scheduled job: evaluate the rules, then deliver what is due to the webhook."""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine

from cloud.alerts.engine import evaluate
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
) -> list[Job]:
    """Every ``every_s`` (a minute): the rules as of now, then the webhook deliveries, in this
    order so an alert raised in a run is offered to the webhook in the same run."""
    steps: list[Step] = [evaluate]
    if webhook is not None:
        steps.append(webhook)
    return [Job(ALERTS, Every(every_s), lambda: run_steps(steps, engine, clock()))]
