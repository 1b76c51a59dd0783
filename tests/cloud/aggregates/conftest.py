"""A migrated database per test, and small factories for raw rows."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.rollups import RollupOptions
from cloud.core.db import make_engine
from cloud.devices.models import Device
from cloud.models import DeviceEvent, Reading, Venue

# 2024-05-01 12:00 in Shanghai.
NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
OPTIONS = RollupOptions(raw_retention=timedelta(days=30), backfill=timedelta(hours=48))

_seq = count(1)


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="Riders' station", timezone="Asia/Shanghai"))
        session.add(Venue(id="v2", name="Workers' home", timezone="Asia/Shanghai"))
        session.commit()
        session.add(Device(id="d1", venue_id="v1", online=True, last_seen_at=NOW))
        session.commit()
    yield engine
    engine.dispose()


def reading(
    metric: str,
    value: float,
    ts: datetime,
    *,
    venue: str = "v1",
    device: str = "d1",
    sensor: str | None = None,
    received_at: datetime | None = None,
) -> Reading:
    return Reading(
        device_id=device,
        seq=next(_seq),
        venue_id=venue,
        metric=metric,
        sensor=sensor,
        ts=ts,
        value=value,
        received_at=received_at or ts,
    )


def event(
    type_: str,
    ts: datetime,
    *,
    venue: str = "v1",
    device: str = "d1",
    received_at: datetime | None = None,
    **data: Any,
) -> DeviceEvent:
    return DeviceEvent(
        device_id=device,
        seq=next(_seq),
        venue_id=venue,
        type=type_,
        ts=ts,
        data=data,
        received_at=received_at or ts,
    )


def visit(ts: datetime, member: str, **kwargs: Any) -> DeviceEvent:
    return event("access.decision", ts, reason="accepted", member=member, door="main", **kwargs)


def add(engine: Engine, *rows: Any) -> None:
    with Session(engine) as session:
        session.add_all(rows)
        session.commit()


def shanghai(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """A Shanghai wall-clock time as a UTC instant (China has no DST: always +08:00)."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)
