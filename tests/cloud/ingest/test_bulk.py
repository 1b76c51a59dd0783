"""The bulk writers: idempotent, counted, and (PostgreSQL) a stage that never leaks rows."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text

from cloud.core.db import table_of
from cloud.ingest.bulk import ReadingRow, event_writer, reading_writer
from cloud.models import DeviceEvent

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


def rows(first: int, count: int, *, device: str = "d1") -> list[ReadingRow]:
    return [
        (device, seq, "v1", "temperature_c", "fridge" if seq % 2 else None, NOW, seq / 2, NOW)
        for seq in range(first, first + count)
    ]


def stored(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        result = conn.execute(
            text("SELECT device_id, seq, sensor, value FROM reading ORDER BY seq")
        )
        return [tuple(row) for row in result]


def test_new_rows_are_counted_and_repeats_are_not(engine: Engine) -> None:
    writer = reading_writer(engine.dialect.name)
    with engine.begin() as conn:
        assert writer.insert(conn, rows(1, 5)) == 5
    with engine.begin() as conn:
        assert writer.insert(conn, rows(4, 4)) == 2  # 4 and 5 are there already
        assert writer.insert(conn, []) == 0

    assert [row[1] for row in stored(engine)] == list(range(1, 8))
    assert stored(engine)[0] == ("d1", 1, "fridge", 0.5)
    assert stored(engine)[1] == ("d1", 2, None, 1.0)


def test_two_batches_in_one_transaction_store_each_row_once(engine: Engine) -> None:
    """The second call must not see the first call's rows in the stage again."""
    writer = reading_writer(engine.dialect.name)
    with engine.begin() as conn:
        assert writer.insert(conn, rows(1, 3)) == 3
        assert writer.insert(conn, rows(10, 2, device="d2")) == 2

    assert len(stored(engine)) == 5


def test_a_rolled_back_batch_leaves_nothing_for_the_next(engine: Engine) -> None:
    writer = reading_writer(engine.dialect.name)
    with engine.connect() as conn:
        transaction = conn.begin()
        assert writer.insert(conn, rows(1, 3)) == 3
        transaction.rollback()
    with engine.begin() as conn:
        assert writer.insert(conn, rows(100, 1)) == 1

    assert [row[1] for row in stored(engine)] == [100]


def test_the_stage_is_empty_after_each_commit(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL stages its rows")
    writer = reading_writer(engine.dialect.name)
    with engine.connect() as conn:
        with conn.begin():
            writer.insert(conn, rows(1, 4))
        with conn.begin():  # the same session: its temporary table is still there
            left = conn.execute(text("SELECT count(*) FROM yz_reading_stage")).scalar_one()
    assert left == 0


def test_events_read_back_through_the_model_as_written(engine: Engine) -> None:
    """Event data goes in as the JSON column stores it: SQLAlchemy reads it back as given."""
    data = {"door": "main", "reason": "admitted", "synced": True, "n": 3, "t": 36.5, "x": None}
    events = [
        ("d1", 7, "v1", "access.decision", NOW, data, NOW),
        ("d1", 8, "v1", "a", NOW, {}, NOW),
    ]
    writer = event_writer(engine.dialect.name)
    with engine.begin() as conn:
        assert writer.insert(conn, events) == 2
        assert writer.insert(conn, events[:1]) == 0
    with engine.connect() as conn:
        event = table_of(DeviceEvent)
        rows = conn.execute(select(event).order_by(event.c.seq)).all()

    assert [(row.seq, row.type, row.data) for row in rows] == [
        (7, "access.decision", data),
        (8, "a", {}),
    ]
    assert rows[0].ts.replace(tzinfo=UTC) == NOW  # SQLite hands back naive UTC


def test_the_writer_refuses_to_run_without_a_transaction(engine: Engine) -> None:
    """In autocommit the stage would empty itself between the COPY and the move: rows
    counted as duplicates, acked and never stored."""
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL stages its rows")
    writer = reading_writer(engine.dialect.name)
    with (
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        pytest.raises(RuntimeError, match="autocommit"),
    ):
        writer.insert(conn, rows(1, 1))
    assert stored(engine) == []
