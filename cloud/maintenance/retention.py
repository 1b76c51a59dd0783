"""Retention: raw rows, refused messages, diagnostics and alert history past their age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_, select

from cloud.alerts.models import Alert, AlertStatus, WebhookDelivery
from cloud.core.db import table_of
from cloud.core.time import as_utc
from cloud.devices.models import DeviceDiagnostics
from cloud.jobs.settings import DEFAULT_DIAGNOSTICS_RETENTION_DAYS
from cloud.models import DeviceEvent, Reading, RejectedMessage

READING = table_of(Reading)
EVENT = table_of(DeviceEvent)
REJECTED = table_of(RejectedMessage)
ALERT = table_of(Alert)
DELIVERY = table_of(WebhookDelivery)
DIAGNOSTICS = table_of(DeviceDiagnostics)
# JobSettings.diagnostics_retention_days's default, for a caller that does not pass it.
DEFAULT_DIAGNOSTICS_RETENTION = timedelta(days=DEFAULT_DIAGNOSTICS_RETENTION_DAYS)


def delete_old_raw(engine: Engine, *, now: datetime, retention: timedelta) -> int:
    """Delete readings and events older than ``retention``; rollups are kept. Returns rows."""
    cutoff = as_utc(now) - retention
    with engine.begin() as conn:
        deleted = conn.execute(delete(READING).where(READING.c.ts < cutoff)).rowcount
        deleted += conn.execute(delete(EVENT).where(EVENT.c.ts < cutoff)).rowcount
    return deleted


@dataclass(frozen=True, slots=True)
class HistoryRetention:
    """How long refused messages, resolved alerts, webhook deliveries and diagnostics reports
    are kept."""

    rejections: timedelta
    resolved_alerts: timedelta
    webhook_deliveries: timedelta
    diagnostics: timedelta = DEFAULT_DIAGNOSTICS_RETENTION


def delete_old_history(engine: Engine, *, now: datetime, keep: HistoryRetention) -> dict[str, int]:
    """Delete refused messages, resolved alerts, webhook deliveries and diagnostics reports
    past their age.

    Open and acknowledged alerts are kept however old: their condition still holds. Returns
    the rows deleted per table.
    """
    now = as_utc(now)
    old_alerts = select(ALERT.c.id).where(
        ALERT.c.status == AlertStatus.RESOLVED.value,
        ALERT.c.resolved_at < now - keep.resolved_alerts,
    )
    with engine.begin() as conn:
        rejected = conn.execute(
            delete(REJECTED).where(REJECTED.c.received_at < now - keep.rejections)
        ).rowcount
        deliveries = conn.execute(
            delete(DELIVERY).where(
                or_(
                    DELIVERY.c.created_at < now - keep.webhook_deliveries,
                    # A delivery points at its alert: it goes first, whatever its age.
                    DELIVERY.c.alert_id.in_(old_alerts),
                )
            )
        ).rowcount
        alerts = conn.execute(delete(ALERT).where(ALERT.c.id.in_(old_alerts))).rowcount
        reports = conn.execute(
            delete(DIAGNOSTICS).where(DIAGNOSTICS.c.received_at < now - keep.diagnostics)
        ).rowcount
    return {
        "rejected_message": rejected,
        "alert": alerts,
        "webhook_delivery": deliveries,
        "device_diagnostics": reports,
    }
