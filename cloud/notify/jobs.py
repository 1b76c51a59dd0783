"""The notification jobs: deliveries, escalations and retries."""

from __future__ import annotations

from typing import Final

from sqlalchemy import Engine

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job, Step, run_steps
from cloud.notify.delivery import DeliveryJob
from cloud.notify.escalation import escalate
from cloud.notify.services import NotifyServices, notify_services
from cloud.settings import CloudSettings

NOTIFY: Final = "notify_delivery"


def notify_steps(services: NotifyServices) -> list[Step]:
    """Escalations first, so one that falls due is sent in the same run."""
    return [escalate, DeliveryJob(services)]


def notify_jobs(
    settings: CloudSettings,
    engine: Engine,
    *,
    clock: Clock = utc_now,
    services: NotifyServices | None = None,
) -> list[Job]:
    """Every ``notify.delivery_interval_s`` (5 s): what alerts' changes and escalations
    queued is sent. Separate from the minute's alert evaluation so a message waits at most
    a few seconds after its change, and a slow robot never delays the rules."""
    steps = notify_steps(services or notify_services(settings))
    every = Every(settings.notify.delivery_interval_s)
    return [Job(NOTIFY, every, lambda: run_steps(steps, engine, clock()))]
