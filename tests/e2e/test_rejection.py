"""Bad messages are refused with a reason naming the field, counted, and harm nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import DataError

from cloud.ingest.inbound import Inbound
from cloud.ingest.store import IngestStore, WriteResult
from cloud.ingest.worker import IngestWorker, MqttEndpoint
from protocol.payloads import MAX_PAYLOAD_BYTES
from tests.e2e.conftest import (
    TIMEOUT,
    VENUE,
    Cloud,
    RawClient,
    batch_payload,
    reading_items,
)
from tests.helpers import wait_for

TELEMETRY = f"yz/v1/{VENUE}/d1/telemetry"
SEQ = 1_700_000_000_000_000


def _oversize() -> bytes:
    padding = "x" * (MAX_PAYLOAD_BYTES + 1024)
    return json.dumps({"v": 1, "device": "d1", "items": [], "pad": padding}).encode()


# (what is wrong, topic, payload, the field the rejection must name)
MALFORMED: list[tuple[str, str, bytes, str]] = [
    ("not JSON", TELEMETRY, b'{"v": 1, device', "$"),
    ("not UTF-8", TELEMETRY, b"\xff\xfe\x00{", "$"),
    ("a JSON array", TELEMETRY, b"[1, 2, 3]", "$"),
    ("schema version 2", TELEMETRY, batch_payload("d1", reading_items(SEQ, 1), v=2), "v"),
    ("another device's payload", TELEMETRY, batch_payload("d2", reading_items(SEQ, 1)), "device"),
    ("over 256 KiB", TELEMETRY, _oversize(), "$"),
    ("a batch on the state topic", f"yz/v1/{VENUE}/d1/state", batch_payload("d1", []), "status"),
    ("uppercase venue id", "yz/v1/V1/d1/telemetry", batch_payload("d1", []), "topic"),
    ("no items", TELEMETRY, batch_payload("d1", []), "items"),
]


def test_malformed_payloads_rejected_ingest_alive(cloud: Cloud, raw_client: RawClient) -> None:
    for _, topic, payload, _ in MALFORMED:
        raw_client.publish(topic, payload)
    partial = reading_items(SEQ + 10, 3)
    partial[1]["value"] = 900.0  # no temperature_c sensor reports that
    raw_client.publish(TELEMETRY, batch_payload("d1", partial))

    expected = len(MALFORMED) + 1
    wait_for(
        lambda: cloud.stats.rejected >= expected,
        timeout=TIMEOUT,
        message=f"ingest never counted {expected} rejections",
    )
    rejected = cloud.rejected()
    # Ingest may write several messages per transaction, so compare as multisets.
    got = sorted((r.topic, r.field_path) for r in rejected)
    want = sorted(
        [(topic, field) for _, topic, _, field in MALFORMED] + [(TELEMETRY, "items.1.value")]
    )
    assert got == want
    assert cloud.stats.rejected == expected
    for row in rejected:
        assert row.reason, f"rejection of {row.topic} on {row.field_path} gives no reason"
    absurd = next(r for r in rejected if r.field_path == "items.1.value")
    assert absurd.seq == SEQ + 11
    assert "900" in absurd.reason
    version = next(r for r in rejected if r.field_path == "v")
    assert "2" in version.reason
    # The good neighbours of the absurd reading are stored.
    assert cloud.seqs("d1") == [SEQ + 10, SEQ + 12]

    # Still alive: a valid batch published afterwards is stored.
    raw_client.publish(TELEMETRY, batch_payload("d1", reading_items(SEQ + 100, 5)))
    wait_for(
        lambda: cloud.count_readings("d1") == 7,
        timeout=TIMEOUT,
        message="ingest stopped storing valid batches after the malformed ones",
    )
    assert cloud.seqs("d1") == [SEQ + 10, SEQ + 12, *range(SEQ + 100, SEQ + 105)]
    assert cloud.stats.rejected == expected


class _RefusingStore(IngestStore):
    """The real store, on a database that refuses one device's content (as PostgreSQL
    refuses a value it cannot hold), to prove one poison message cannot stall ingest."""

    def write(self, messages: Sequence[Inbound]) -> WriteResult:
        if any(m.batch is not None and m.batch.topic.device == "poison" for m in messages):
            raise DataError("INSERT INTO reading …", {}, ValueError("value refused"))
        return super().write(messages)


def test_a_message_the_database_refuses_is_kept_as_rejected_and_ingest_goes_on(
    idle_cloud: Cloud, raw_client: RawClient
) -> None:
    clock = lambda: datetime.now(UTC)  # noqa: E731
    worker = IngestWorker(
        _RefusingStore(idle_cloud.engine, clock=clock),
        endpoint=MqttEndpoint(idle_cloud.broker.host, idle_cloud.broker.port, "yz-ingest-poison"),
        clock=clock,
    )
    idle_cloud.worker = worker
    worker.start()
    wait_for(lambda: worker.stats.connected, timeout=TIMEOUT, message="ingest never connected")
    poison = f"yz/v1/{VENUE}/poison/telemetry"

    def both_handled() -> bool:
        # Published until seen: CONNACK comes before SUBACK, so the first may be missed.
        if idle_cloud.count_readings("d1") == 3 and idle_cloud.rejected():
            return True
        raw_client.publish(poison, batch_payload("poison", reading_items(SEQ, 2)))
        raw_client.publish(TELEMETRY, batch_payload("d1", reading_items(SEQ, 3)))
        return False

    wait_for(both_handled, timeout=TIMEOUT, interval=0.5, message="ingest stalled")
    rejected = idle_cloud.rejected()
    assert {r.topic for r in rejected} == {poison}
    assert all(r.field_path == "$" and "database refused" in r.reason for r in rejected)
    assert worker.stats.write_errors >= 1
