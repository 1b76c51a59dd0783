"""Issue 15, finding 5: refused messages, resolved alerts, webhook deliveries and diagnostics
reports expire."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session

from cloud.alerts.models import Alert, AlertStatus, WebhookDelivery
from cloud.devices.models import Device, DeviceDiagnostics
from cloud.jobs.settings import JobSettings
from cloud.maintenance.jobs import run_retention
from cloud.maintenance.retention import HistoryRetention, delete_old_history
from cloud.models import RejectedMessage, Venue

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
KEEP = HistoryRetention(
    rejections=timedelta(days=30),
    resolved_alerts=timedelta(days=180),
    webhook_deliveries=timedelta(days=30),
)


def _rejection(age: timedelta) -> RejectedMessage:
    return RejectedMessage(
        received_at=NOW - age, topic="t", field_path="$", reason="r", size=1, payload="p"
    )


def _alert(key: str, status: AlertStatus, *, resolved_ago: timedelta | None) -> Alert:
    opened = NOW - timedelta(days=400)
    return Alert(
        venue_id="v1",
        kind="device_offline",
        severity="warning",
        status=status,
        dedupe_key=key,
        opened_at=opened,
        last_seen_at=opened,
        message_zh="z",
        message_en="e",
        resolved_at=None if resolved_ago is None else NOW - resolved_ago,
    )


def _delivery(alert_id: int | None, age: timedelta) -> WebhookDelivery:
    assert alert_id is not None
    at = NOW - age
    return WebhookDelivery(
        alert_id=alert_id, event="opened", created_at=at, next_attempt_at=at, done=True
    )


def _report(age: timedelta) -> DeviceDiagnostics:
    return DeviceDiagnostics(
        device_id="d1", command_id="c" * 32, ts=NOW - age, report={}, received_at=NOW - age
    )


def _seed(engine: Engine) -> dict[str, Any]:
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Station 1"))
        session.flush()  # no relationship tells the session the alerts need it first
        session.add(Device(id="d1", venue_id="v1"))
        session.flush()
        session.add_all([_report(timedelta(days=31)), _report(timedelta(days=29))])
        session.add_all([_rejection(timedelta(days=31)), _rejection(timedelta(days=29))])
        old = _alert("old", AlertStatus.RESOLVED, resolved_ago=timedelta(days=181))
        recent = _alert("recent", AlertStatus.RESOLVED, resolved_ago=timedelta(days=179))
        still_open = _alert("open", AlertStatus.OPEN, resolved_ago=None)
        session.add_all([old, recent, still_open])
        session.flush()
        session.add_all(
            [
                _delivery(old.id, timedelta(days=10)),  # recent, but its alert goes
                _delivery(recent.id, timedelta(days=31)),
                _delivery(recent.id, timedelta(days=1)),
            ]
        )
        session.commit()
        return {"old": old.id, "recent": recent.id, "open": still_open.id}


def _ids(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).scalars())


def test_old_history_is_deleted_and_live_alerts_are_kept(engine: Engine) -> None:
    ids = _seed(engine)

    deleted = delete_old_history(engine, now=NOW, keep=KEEP)

    assert deleted == {
        "rejected_message": 1,
        "alert": 1,
        "webhook_delivery": 2,
        "device_diagnostics": 1,
    }
    assert len(_ids(engine, "SELECT id FROM rejected_message")) == 1
    assert sorted(_ids(engine, "SELECT id FROM alert")) == sorted([ids["recent"], ids["open"]])
    assert _ids(engine, "SELECT alert_id FROM webhook_delivery") == [ids["recent"]]


def test_the_retention_job_runs_it_with_the_settings(engine: Engine) -> None:
    _seed(engine)
    settings = JobSettings(
        rejection_retention_days=40,
        resolved_alert_retention_days=30,
        webhook_delivery_retention_days=365,
    )
    run_retention(engine, settings, now=NOW)

    assert len(_ids(engine, "SELECT id FROM rejected_message")) == 2  # both younger than 40 d
    assert len(_ids(engine, "SELECT id FROM alert")) == 1  # only the open one is left
    assert _ids(engine, "SELECT count(*) FROM webhook_delivery") == [0]
    assert _ids(engine, "SELECT count(*) FROM device_diagnostics") == [1]  # past 30 days: gone


def test_the_defaults_are_the_documented_ones() -> None:
    settings = JobSettings()
    assert settings.rejection_retention_days == 30
    assert settings.resolved_alert_retention_days == 180
    assert settings.webhook_delivery_retention_days == 30
    assert settings.diagnostics_retention_days == 30
    assert HistoryRetention(
        rejections=KEEP.rejections,
        resolved_alerts=KEEP.resolved_alerts,
        webhook_deliveries=KEEP.webhook_deliveries,
    ) == replace(KEEP, diagnostics=timedelta(days=settings.diagnostics_retention_days))
