"""Small factories for the alert tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.alerts.models import Alert, AlertRule, WebhookDelivery
from cloud.models import DeviceEvent, Reading

# A summer afternoon in Shanghai (UTC+8): inside the heat-relief season.
NOW = datetime(2025, 7, 15, 6, 30, tzinfo=UTC)


class Seq:
    """Sequence numbers for seeded rows, unique across the test."""

    def __init__(self) -> None:
        self._n = 0

    def __call__(self) -> int:
        self._n += 1
        return self._n


_seq = Seq()


def add(engine: Engine, *rows: Any) -> None:
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def temps(
    start: datetime, minutes: int, value: float, *, sensor: str = "28-fridge", device: str = "hub-1"
) -> list[Reading]:
    """One reading a minute from ``start`` for ``minutes`` minutes (inclusive of both ends)."""
    return [
        Reading(
            device_id=device,
            seq=_seq(),
            venue_id="v1",
            metric="temperature_c",
            sensor=sensor,
            ts=start + timedelta(minutes=m),
            value=value,
        )
        for m in range(minutes + 1)
    ]


def event(
    ts: datetime, type_: str, *, device: str = "door-1", venue: str = "v1", **data: Any
) -> DeviceEvent:
    return DeviceEvent(device_id=device, seq=_seq(), venue_id=venue, type=type_, ts=ts, data=data)


def energy(ts: datetime, value: float, *, device: str = "hub-1") -> Reading:
    return Reading(
        device_id=device, seq=_seq(), venue_id="v1", metric="energy_kwh", ts=ts, value=value
    )


def alerts(engine: Engine, **where: Any) -> list[Alert]:
    with Session(engine) as session:
        query = select(Alert).order_by(Alert.id)  # type: ignore[arg-type]
        for name, value in where.items():
            query = query.where(getattr(Alert, name) == value)
        return list(session.exec(query).all())


def deliveries(engine: Engine) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(session.exec(select(WebhookDelivery).order_by(WebhookDelivery.id)).all())  # type: ignore[arg-type]


def set_rule(engine: Engine, kind: str, *, venue: str | None = None, **fields: Any) -> None:
    with Session(engine) as session:
        rule = session.exec(
            select(AlertRule).where(AlertRule.venue_id == venue, AlertRule.kind == kind)
        ).first() or AlertRule(venue_id=venue, kind=kind)
        for name, value in fields.items():
            setattr(rule, name, value)
        session.add(rule)
        session.commit()
