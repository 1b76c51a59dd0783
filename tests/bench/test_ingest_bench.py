"""`yizhan bench ingest` on PostgreSQL: stored per second, and what each reading costs on disk."""

from __future__ import annotations

import pytest

from yizhan.bench.ingest import run_ingest_bench

pytestmark = pytest.mark.postgres

KEYS = {
    "database", "broker", "devices", "ingest_workers", "seconds", "published_readings",
    "stored_readings", "readings_per_s", "raw_readings_per_s", "ratio", "lost",
    "duplicates_stored", "storage",
}  # fmt: skip


@pytest.mark.slow
def test_postgres_run_reports_storage_per_reading(pg_url: str) -> None:
    result = run_ingest_bench(seconds=2, devices=4, database_url=pg_url, workers=1)
    assert set(result) == KEYS
    assert result["database"] == "postgresql"
    assert result["lost"] == 0
    assert result["duplicates_stored"] == 0
    storage = result["storage"]
    assert storage["rows"] == result["stored_readings"] > 0
    assert storage["total_bytes"] > storage["index_bytes"] > 0
    assert storage["bytes_per_reading"] == round(storage["total_bytes"] / storage["rows"], 1)
    assert storage["rollups"] == {}  # the bench's workers run no rollup jobs
