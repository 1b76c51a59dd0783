"""Bytes per stored reading, measured on PostgreSQL after VACUUM ANALYZE; nothing on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from cloud.aggregates.models import TemperatureHourly
from cloud.core.db import make_engine
from cloud.migrate import upgrade
from cloud.models import Reading, Venue
from yizhan.bench.storage import measure_storage

HOUR = datetime(2025, 1, 1, 8, tzinfo=UTC)


def _fill(url: str, readings: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="v1"))
        session.add_all(
            Reading(
                device_id="d1",
                seq=seq,
                venue_id="v1",
                metric="temperature_c",
                sensor="fridge",
                ts=HOUR,
                value=4.5,
            )
            for seq in range(readings)
        )
        session.add(
            TemperatureHourly(
                venue_id="v1",
                device_id="d1",
                sensor="fridge",
                hour_utc=HOUR,
                min_c=4.5,
                avg_c=4.5,
                max_c=4.5,
                count=readings,
            )
        )
        session.commit()
    engine.dispose()


@pytest.mark.postgres
def test_reading_bytes_include_indexes_and_rollups_with_rows_are_listed(pg_url: str) -> None:
    _fill(pg_url, 2_000)
    storage = measure_storage(pg_url)
    assert storage is not None
    assert storage["table"] == "reading"
    assert storage["rows"] == 2_000
    assert storage["hypertable"] is False
    # Heap and two indexes (the (device_id, seq) key, venue/metric/ts, received_at).
    assert storage["total_bytes"] > storage["index_bytes"] > 0
    assert storage["bytes_per_reading"] == round(storage["total_bytes"] / 2_000, 1)
    assert 40 < storage["bytes_per_reading"] < 2_000
    assert list(storage["rollups"]) == ["temperature_hourly"]  # the empty ones are left out
    assert storage["rollups"]["temperature_hourly"]["rows"] == 1


def test_sqlite_reports_no_storage_figure(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    _fill(url, 10)
    assert measure_storage(url) is None
