"""Retention deletes only old raw rows; offline detection marks silent devices and back."""

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, func, select

from cloud.aggregates.models import TrafficHourly
from cloud.aggregates.rollups import rollup_range
from cloud.devices.models import Device
from cloud.maintenance.presence import detect_offline
from cloud.maintenance.retention import delete_old_raw
from cloud.models import DeviceEvent, Reading
from tests.cloud.aggregates.conftest import NOW, OPTIONS, add, reading, visit


def _count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_retention_deletes_only_raw_rows_older_than_the_limit(engine: Engine) -> None:
    old = NOW - timedelta(days=31)
    add(
        engine,
        reading("people_in", 1, old),
        visit(old, "m1"),
        reading("people_in", 1, NOW - timedelta(days=29)),
        visit(NOW - timedelta(days=1), "m1"),
    )
    rollup_range(
        engine, venue_id="v1", since=old, until=old + timedelta(hours=1), now=old, options=OPTIONS
    )

    deleted = delete_old_raw(engine, now=NOW, retention=timedelta(days=30))

    assert deleted == 2
    assert _count(engine, Reading) == 1
    assert _count(engine, DeviceEvent) == 1
    assert _count(engine, TrafficHourly) == 1  # rollups are kept


def _device(engine: Engine) -> Device:
    with Session(engine) as session:
        device = session.get(Device, "d1")
        assert device is not None
        return device


def _seen(engine: Engine, at: object) -> None:
    with Session(engine) as session:
        device = session.get(Device, "d1")
        assert device is not None
        device.last_seen_at = at  # type: ignore[assignment]
        session.add(device)
        session.commit()


def test_offline_detection_marks_silent_devices_and_back_when_they_speak(
    engine: Engine,
) -> None:
    after = timedelta(seconds=180)
    assert detect_offline(engine, now=NOW + timedelta(seconds=60), offline_after=after) == []
    assert _device(engine).online

    later = NOW + timedelta(seconds=181)
    changes = detect_offline(engine, now=later, offline_after=after)
    assert [(c.device_id, c.online) for c in changes] == [("d1", False)]
    assert not _device(engine).online
    assert detect_offline(engine, now=later, offline_after=after) == []  # told once

    _seen(engine, later + timedelta(seconds=5))  # ingest stored a reading from it
    changes = detect_offline(engine, now=later + timedelta(seconds=30), offline_after=after)
    assert [(c.device_id, c.online) for c in changes] == [("d1", True)]
    assert _device(engine).online
