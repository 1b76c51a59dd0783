"""Escalation: an alert nobody acknowledged in N minutes goes to the next person.

The venue's escalation order is the subscriptions with ``escalate_after_min`` set, by
their minutes: the duty manager at 15, the district at 45. Each is told once per alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from cloud.alerts.models import Alert, AlertStatus
from cloud.core.time import as_utc
from cloud.notify.models import Delivery, NotifyEvent, Subscription
from cloud.notify.planner import new_delivery, subscribers, venue_name
from cloud.notify.text import alert_message


def escalate(engine: Engine, now: datetime) -> list[int]:
    """Queue the escalations due as of ``now``; the ids of the deliveries made."""
    now = as_utc(now)
    with Session(engine) as session:
        shortest = session.exec(select(func.min(Subscription.escalate_after_min))).one()
        if shortest is None:
            return []  # nobody asked to be escalated to: one cheap query a run
        waiting = session.exec(
            select(Alert).where(
                Alert.status == AlertStatus.OPEN,
                col(Alert.opened_at) <= now - timedelta(minutes=shortest),
            )
        ).all()
        made: list[Delivery] = []
        for alert in waiting:
            made += _escalate_one(session, alert, now=now)
        session.commit()
        return [d.id for d in made if d.id is not None]


def _escalate_one(session: Session, alert: Alert, *, now: datetime) -> list[Delivery]:
    age = now - as_utc(alert.opened_at)
    told = set(
        session.exec(
            select(Delivery.subscription_id).where(
                Delivery.alert_id == alert.id, Delivery.event == NotifyEvent.ESCALATED
            )
        )
    )
    made = []
    for sub in subscribers(session, alert, escalation=True):
        minutes = sub.escalate_after_min or 0
        if sub.id in told or age < timedelta(minutes=minutes):
            continue
        message = alert_message(
            alert,
            event=NotifyEvent.ESCALATED,
            venue_name=venue_name(session, alert.venue_id),
            minutes=minutes,
        )
        delivery = new_delivery(
            sub,
            alert,
            event=NotifyEvent.ESCALATED,
            now=now,
            title=message.title,
            text=message.text,
        )
        session.add(delivery)
        made.append(delivery)
    session.flush()
    return made
