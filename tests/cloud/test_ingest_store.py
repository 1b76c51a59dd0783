"""IngestStore on SQLite and PostgreSQL: bulk writes, config.applied, the Timescale guard."""

import importlib.util
import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

from sqlalchemy import Engine, text

from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.store import IngestStore
from cloud.migrate import MIGRATIONS_DIR

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
TS = "2025-05-01T02:59:00.123456Z"


def message(kind: str, items: list[dict[str, Any]], *, device: str = "d1") -> Inbound:
    payload = json.dumps({"v": 1, "device": device, "items": items}).encode()
    return classify(0, f"yz/v1/v1/{device}/{kind}", payload)


def reading(seq: int, value: float = 4.5) -> dict[str, Any]:
    return {"seq": seq, "ts": TS, "metric": "temperature_c", "value": value, "sensor": "fridge"}


def applied(seq: int, version: Any) -> dict[str, Any]:
    return {"seq": seq, "ts": TS, "type": "config.applied", "data": {"version": version}}


def test_readings_are_stored_once_and_counted(engine: Engine) -> None:
    store = IngestStore(engine, clock=lambda: NOW)
    first = store.write([message("telemetry", [reading(1), reading(2)])])
    again = store.write(
        [message("telemetry", [reading(2), reading(3)]), message("telemetry", [reading(3)])]
    )

    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (1, 2)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, value, sensor, ts FROM reading ORDER BY seq")).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (1, 4.5, "fridge"),
        (2, 4.5, "fridge"),
        (3, 4.5, "fridge"),
    ]
    stored_ts = rows[0][3]
    if isinstance(stored_ts, str):  # raw SQLite text: SQLAlchemy's format, as the API reads it
        assert stored_ts == "2025-05-01 02:59:00.123456"
    else:
        assert stored_ts == datetime(2025, 5, 1, 2, 59, 0, 123456, tzinfo=UTC)


def test_config_applied_records_the_newest_version(engine: Engine) -> None:
    store = IngestStore(engine, clock=lambda: NOW)
    store.write([message("event", [applied(10, 3)])])
    store.write([message("event", [applied(5, 2), applied(11, "x")])])  # older, and not a version

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT version, seq FROM device_config WHERE device_id = 'd1'")
        ).one()
        events = conn.execute(text("SELECT count(*) FROM device_event")).scalar_one()
    assert tuple(row) == (3, 10)
    assert events == 3  # every report is still kept as an event

    store.write([message("event", [applied(12, 4)])])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version FROM device_config")).scalar_one() == 4


def _migration(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, MIGRATIONS_DIR / "versions" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hypertable_guard_is_a_no_op_without_timescaledb(engine: Engine) -> None:
    migration = _migration("0003_ingest")
    with engine.begin() as conn:
        assert migration.timescaledb_available(conn) is False
        assert migration.make_reading_hypertable(conn) is False
        if conn.dialect.name == "postgresql":
            extensions = conn.execute(text("SELECT extname FROM pg_extension")).scalars().all()
            assert "timescaledb" not in extensions
