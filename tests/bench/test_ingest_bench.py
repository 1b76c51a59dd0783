"""`yizhan bench ingest`: both mixes are valid messages, and a short run audits what it stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cloud.ingest.inbound import classify
from yizhan.bench.ingest import run_ingest_bench
from yizhan.bench.ingest_load import MIXES, SHAPES, Mix, items_per_message, items_sent, message

KEYS = {
    "database", "broker", "devices", "ingest_workers", "seconds", "mix", "items_per_message",
    "published_readings", "published_messages", "stored_readings", "readings_per_s",
    "raw_readings_per_s", "messages_per_s", "raw_messages_per_s", "ratio", "lost",
    "duplicates_stored", "cpu_us_per_reading", "storage",
}  # fmt: skip
TS = datetime(2026, 12, 7, 1, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("mix", MIXES)
def test_every_message_of_a_mix_is_one_ingest_takes_whole(mix: Mix) -> None:
    seq = 1_000
    for index in range(2 * len(SHAPES[mix])):
        kind, payload, items = message(mix, index, "bench-0001", seq, TS)
        inbound = classify(index + 1, f"yz/v1/bench/bench-0001/{kind}", payload)
        assert inbound.batch is not None, inbound.rejection
        assert inbound.batch.rejected == []
        assert [item.seq for item in inbound.batch.items] == list(range(seq, seq + items))
        assert len(json.loads(payload)["items"]) == items
        seq += items
    assert items_sent(mix, 2 * len(SHAPES[mix])) == seq - 1_000


def test_the_realistic_mix_carries_one_to_eleven_items() -> None:
    sizes = {shape.items for shape in SHAPES["realistic"]}
    assert min(sizes) == 1
    assert max(sizes) == 11
    assert {shape.kind for shape in SHAPES["realistic"]} == {"telemetry", "event"}
    assert items_per_message("fixed") == 3
    assert 3 < items_per_message("realistic") < 4


@pytest.mark.slow
@pytest.mark.postgres
def test_a_realistic_run_on_postgres_stores_each_item_once_and_meters_cpu(pg_url: str) -> None:
    """One short run in the suite (the fixed mix and SQLite differ only in the load and the
    database: the same code paths); the figures themselves are the bench's business."""
    result = run_ingest_bench(seconds=2, devices=4, database_url=pg_url, workers=1, mix="realistic")
    assert set(result) == KEYS
    assert result["database"] == "postgresql"
    assert result["stored_readings"] == result["published_readings"] > 0
    assert result["lost"] == 0
    assert result["duplicates_stored"] == 0
    assert result["published_messages"] < result["published_readings"]
    assert result["messages_per_s"] < result["readings_per_s"]
    assert result["cpu_us_per_reading"] > 0  # the worker's and its backends' CPU were read
    storage = result["storage"]
    assert 0 < storage["rows"] < result["stored_readings"]  # events are stored beside readings
    assert storage["total_bytes"] > storage["index_bytes"] > 0
    assert storage["bytes_per_reading"] == round(storage["total_bytes"] / storage["rows"], 1)
    assert storage["rollups"] == {}  # the bench's workers run no rollup jobs
