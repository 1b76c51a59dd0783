"""The notification jobs: deliveries, escalations and retries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import Engine, delete

from cloud.core.time import Clock, utc_now
from cloud.jobs.job import Every, Job, Step, run_steps
from cloud.notify.delivery import DeliveryJob
from cloud.notify.escalation import escalate
from cloud.notify.models import Delivery
from cloud.notify.services import NotifyServices, notify_services
from cloud.settings import CloudSettings

NOTIFY: Final = "notify_delivery"
RETENTION: Final = "notify_retention"
# Hourly is plenty for deleting month-old rows.
RETENTION_EVERY_S: Final = 3600.0


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
    keep = timedelta(days=settings.notify.retention_days)
    return [
        Job(NOTIFY, every, lambda: run_steps(steps, engine, clock())),
        Job(
            RETENTION, Every(RETENTION_EVERY_S), lambda: delete_old(engine, now=clock(), keep=keep)
        ),
    ]


def delete_old(engine: Engine, *, now: datetime, keep: timedelta) -> int:
    """Delete deliveries older than ``keep``; how many went."""
    with engine.begin() as conn:
        table = Delivery.__table__  # type: ignore[attr-defined]
        deleted: int = conn.execute(delete(table).where(table.c.created_at < now - keep)).rowcount
    return deleted
