"""Alert transitions open → acknowledged → resolved, each queuing its webhook delivery and
handing the change to notifications (cloud.notify.planner).

Every function takes the session as a keyword and leaves the commit to the caller, so a
transition and its webhook row are written in one transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from cloud.alerts.errors import AlertNotFoundError, IllegalTransitionError
from cloud.alerts.models import SYSTEM, Alert, AlertKind, AlertStatus, WebhookDelivery
from cloud.alerts.rules import Finding
from cloud.alerts.schemas import AlertPublic, WebhookBody
from cloud.core.time import as_utc
from cloud.notify import planner


def _queue(session: Session, alert: Alert, *, event: str, now: datetime) -> None:
    """Write the webhook delivery of this transition in the transition's own transaction."""
    delivery = WebhookDelivery(alert_id=0, event=event, created_at=now, next_attempt_at=now)
    session.add(alert)
    session.flush()  # the alert's id, and the delivery's for the body
    assert alert.id is not None
    delivery.alert_id = alert.id
    session.add(delivery)
    session.flush()
    assert delivery.id is not None
    body = WebhookBody(
        event=event, delivery_id=delivery.id, alert=AlertPublic.model_validate(alert)
    )
    delivery.payload = body.model_dump_json()
    planner.on_alert_change(session, alert, event=event, now=now)


def open_alert(session: Session, finding: Finding, *, now: datetime) -> Alert:
    subject = finding.subject
    alert = Alert(
        venue_id=subject.venue_id,
        device_id=subject.device_id,
        sensor=subject.sensor,
        kind=subject.kind,
        severity=finding.severity,
        status=AlertStatus.OPEN,
        dedupe_key=subject.key,
        active_key=subject.key,
        opened_at=now,
        last_seen_at=finding.observed_at,
        occurrences=finding.occurrences,
        threshold=finding.threshold,
        last_value=finding.value,
        message_zh=finding.message_zh,
        message_en=finding.message_en,
    )
    session.add(alert)
    _queue(session, alert, event="opened", now=now)
    return alert


def refresh(alert: Alert, finding: Finding) -> bool:
    """Record that the condition of an unresolved ``alert`` still holds; True if anything changed.

    Idempotent: the same finding twice changes nothing the second time.
    """
    changed = False
    if finding.observed_at > as_utc(alert.last_seen_at):
        alert.last_seen_at = finding.observed_at
        alert.last_value = finding.value
        alert.message_zh, alert.message_en = finding.message_zh, finding.message_en
        changed = True
    if finding.subject.kind == AlertKind.DOOR_FORCED:
        # Forced-door findings carry only events newer than the alert's last_seen_at.
        alert.occurrences += finding.occurrences
        changed = True
    return changed


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise AlertNotFoundError(alert_id)
    return alert


def acknowledge(
    session: Session, alert: Alert, *, by: str, now: datetime, note: str | None = None
) -> Alert:
    if alert.status != AlertStatus.OPEN:
        raise IllegalTransitionError(alert.id or 0, status=alert.status, action="acknowledged")
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by, alert.acknowledged_at = by, now
    alert.ack_note = note or None
    session.add(alert)
    _queue(session, alert, event="acknowledged", now=now)
    return alert


def resolve(
    session: Session, alert: Alert, *, by: str, now: datetime, note: str | None = None
) -> Alert:
    """Resolve by a person (``by`` their subject) or by the evaluator (``by`` SYSTEM)."""
    if alert.status == AlertStatus.RESOLVED:
        raise IllegalTransitionError(alert.id or 0, status=alert.status, action="resolved")
    alert.status = AlertStatus.RESOLVED
    alert.resolved_by, alert.resolved_at = by, now
    alert.resolve_note = note or None
    alert.auto_resolved = by == SYSTEM
    # Frees the dedupe slot: the next occurrence of the condition opens a new alert.
    alert.active_key = None
    session.add(alert)
    _queue(session, alert, event="resolved", now=now)
    return alert
