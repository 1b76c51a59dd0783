"""Bulk inserts of readings straight through the driver: the hot path of ingest.

SQLAlchemy's ``insert().returning()`` with a list of dicts runs every value through its
type processors in Python; at tens of thousands of readings a second that is most of the
cost. These writers send plain tuples (SQLite: one ``executemany``; PostgreSQL: one
``INSERT … SELECT FROM unnest(arrays)``) and still store idempotently with
``ON CONFLICT (device_id, seq) DO NOTHING``, returning how many rows were new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final, Protocol

from sqlalchemy.engine import Connection

# device_id, seq, venue_id, metric, sensor, ts, value, received_at
ReadingRow = tuple[str, int, str, str, str | None, datetime, float, datetime]

_COLUMNS: Final = "device_id, seq, venue_id, metric, sensor, ts, value, received_at"


class ReadingWriter(Protocol):
    def insert(self, conn: Connection, rows: Sequence[ReadingRow]) -> int:
        """Insert ``rows`` inside the caller's transaction; return how many were new."""


def sqlite_time(value: datetime) -> str:
    """SQLAlchemy's SQLite DateTime storage format, so API queries compare like with like.

    Values are UTC already (the wire model normalises them); SQLite keeps no offset.
    """
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"
    )


class SqliteReadingWriter:
    # ON CONFLICT on the key only: INSERT OR IGNORE would also skip a row breaking NOT NULL,
    # which would then be acked as "already stored" and lost.
    _SQL: Final = (
        f"INSERT INTO reading ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "  # noqa: S608
        "ON CONFLICT (device_id, seq) DO NOTHING"
    )

    def insert(self, conn: Connection, rows: Sequence[ReadingRow]) -> int:
        if not rows:
            return 0
        # The readings of one message share a time, and received_at is one per batch:
        # format each distinct time once.
        times: dict[datetime, str] = {}

        def text(value: datetime) -> str:
            found = times.get(value)
            if found is None:
                found = times[value] = sqlite_time(value)
            return found

        params = [
            (d, s, v, m, sensor, text(ts), value, text(at))
            for d, s, v, m, sensor, ts, value, at in rows
        ]
        result = conn.exec_driver_sql(self._SQL, params)
        return int(result.rowcount)


class PostgresReadingWriter:
    # One statement and one round trip for the whole batch; arrays go over in binary.
    _SQL: Final = (
        f"INSERT INTO reading ({_COLUMNS}) "  # noqa: S608 - fixed names
        "SELECT * FROM unnest(%s::varchar[], %s::bigint[], %s::varchar[], %s::varchar[], "
        "%s::varchar[], %s::timestamptz[], %s::float8[], %s::timestamptz[]) "
        "ON CONFLICT (device_id, seq) DO NOTHING"
    )

    def insert(self, conn: Connection, rows: Sequence[ReadingRow]) -> int:
        if not rows:
            return 0
        columns = tuple(list(column) for column in zip(*rows, strict=True))
        result = conn.exec_driver_sql(self._SQL, columns)
        return int(result.rowcount)


def reading_writer(dialect: str) -> ReadingWriter:
    if dialect == "sqlite":
        return SqliteReadingWriter()
    if dialect == "postgresql":
        return PostgresReadingWriter()
    raise ValueError(f"no bulk reading writer for {dialect!r}; use SQLite or PostgreSQL")
