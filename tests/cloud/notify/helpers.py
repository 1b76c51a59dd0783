"""Small factories for the notify tests: subscriptions, alerts opened and resolved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.alerts import lifecycle
from cloud.alerts.models import Alert, AlertKind
from cloud.alerts.rules import Finding
from cloud.alerts.subject import Subject
from cloud.notify.models import Delivery, Subscription

FRIDGE = Subject(AlertKind.FRIDGE_WARM, "v1", "hub-1", "28-fridge")


def subscribe(engine: Engine, username: str, channel: str, **fields: Any) -> int:
    with Session(engine) as session:
        sub = Subscription(username=username, channel=channel, **fields)
        session.add(sub)
        session.commit()
        assert sub.id is not None
        return sub.id


def open_alert(engine: Engine, now: datetime, subject: Subject = FRIDGE) -> int:
    finding = Finding(
        subject, True, now, 9.5, 8.0, 1, "冰箱温度 9.5 °C，高于 8 °C", "fridge at 9.5 °C"
    )
    with Session(engine) as session:
        alert = lifecycle.open_alert(session, finding, now=now)
        session.commit()
        assert alert.id is not None
        return alert.id


def resolve(engine: Engine, alert_id: int, now: datetime, *, by: str = "system") -> None:
    with Session(engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        lifecycle.resolve(session, alert, by=by, now=now)
        session.commit()


def deliveries(engine: Engine, **where: Any) -> list[Delivery]:
    with Session(engine) as session:
        query = select(Delivery).order_by(col(Delivery.id))
        for name, value in where.items():
            query = query.where(getattr(Delivery, name) == value)
        return list(session.exec(query).all())


def wall_now() -> datetime:
    """The real time: the fake robots, like the real ones, judge timestamps by it."""
    return datetime.now(UTC)
