"""What stored telemetry costs on disk: bytes per reading on PostgreSQL, measured, not guessed."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

READINGS: Final = "reading"
# The rollups that grow with every hour of data (the daily ones are a row per venue a day).
HOURLY_ROLLUPS: Final = ("traffic_hourly", "temperature_hourly", "occupancy_hourly")


def measure_storage(database_url: str) -> dict[str, Any] | None:
    """Rows and bytes of ``reading`` (and of the hourly rollups that hold rows).

    ``None`` on SQLite: one file holds every table and its WAL, so a per-reading figure
    from it would mostly measure what else is in the file; the production figure is
    PostgreSQL's. Each table is ``VACUUM ANALYZE``d first so the figure is stable (no
    dead tuples from upserts, visibility and free-space maps written).
    """
    from cloud.core.db import make_engine  # noqa: PLC0415 - the bench imports the cloud lazily

    if make_url(database_url).get_backend_name() != "postgresql":
        return None
    engine = make_engine(database_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            hypertable = _is_hypertable(conn, READINGS)
            readings = _table_size(conn, READINGS, hypertable=hypertable)
            rollups = {}
            for table in HOURLY_ROLLUPS:
                figures = _table_size(conn, table, hypertable=False)
                if figures["rows"]:
                    rollups[table] = figures
    finally:
        engine.dispose()
    return {
        "table": READINGS,
        "rows": readings["rows"],
        "total_bytes": readings["total_bytes"],
        "index_bytes": readings["index_bytes"],
        "bytes_per_reading": readings["bytes_per_row"],
        "hypertable": hypertable,
        "rollups": rollups,
    }


def _is_hypertable(conn: Connection, table: str) -> bool:
    # A TimescaleDB hypertable keeps its rows in chunk tables: pg_total_relation_size of
    # the parent would report a few kilobytes however much is stored.
    installed = conn.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if installed is None:
        return False
    found = conn.execute(
        text("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"),
        {"t": table},
    ).scalar()
    return found is not None


def _table_size(conn: Connection, table: str, *, hypertable: bool) -> dict[str, Any]:
    """Rows, total bytes (heap + indexes + TOAST + maps), index bytes, bytes per row."""
    # Table names come from the constants above, never from input; VACUUM takes no binds.
    conn.execute(text(f"VACUUM ANALYZE {table}"))
    rows = int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    if hypertable:
        sizes = text(
            "SELECT total_bytes, index_bytes FROM hypertable_detailed_size(CAST(:t AS regclass))"
        )
    else:
        sizes = text(
            "SELECT pg_total_relation_size(CAST(:t AS regclass)),"
            " pg_indexes_size(CAST(:t AS regclass))"
        )
    total, index = conn.execute(sizes, {"t": table}).one()
    total, index = int(total or 0), int(index or 0)
    return {
        "rows": rows,
        "total_bytes": total,
        "index_bytes": index,
        "bytes_per_row": round(total / rows, 1) if rows else None,
    }
