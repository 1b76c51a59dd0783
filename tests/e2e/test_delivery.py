"""Readings go from an edge outbox to the cloud database exactly once, and leave only on ack."""

from __future__ import annotations

import json

from protocol.payloads import seq_ranges
from tests.e2e.conftest import (
    TIMEOUT,
    VENUE,
    Cloud,
    EdgeFactory,
    RawClient,
    batch_payload,
    reading_items,
)
from tests.helpers import wait_for

N = 3000


def test_n_sent_n_stored(cloud: Cloud, edge: EdgeFactory) -> None:
    device = edge("d1")
    device.append_readings(N)

    wait_for(
        lambda: cloud.count_readings("d1") >= N and device.outbox.stats().depth == 0,
        timeout=TIMEOUT,
        message=f"{N} readings never all stored and confirmed",
    )

    assert cloud.count_readings("d1") == N
    assert cloud.seqs("d1") == device.issued()
    stats = device.outbox.stats()
    assert (stats.depth, stats.unconfirmed, stats.dropped) == (0, 0, 0)
    assert cloud.stats.stored == N
    assert cloud.rejected() == []


def test_outbox_rows_leave_only_on_storage_ack(idle_cloud: Cloud, edge: EdgeFactory) -> None:
    # Ingest connects once so the broker keeps a persistent session for it, then goes
    # down: the broker queues the batches, but nothing is stored, so nothing is acked.
    idle_cloud.start()
    idle_cloud.stop()
    device = edge("d1", resend_after=600)
    device.append_readings(N)

    wait_for(
        lambda: device.count_sent() == N,
        timeout=TIMEOUT,
        message="the broker never PUBACKed every row",
    )
    assert device.outbox.stats().depth == N
    assert device.uplink.confirmed == 0
    assert idle_cloud.count_readings("d1") == 0

    idle_cloud.start()
    wait_for(
        lambda: device.outbox.stats().depth == 0,
        timeout=TIMEOUT,
        message="the outbox never emptied once ingest stored the queued rows",
    )
    assert device.uplink.confirmed == N
    assert idle_cloud.seqs("d1") == device.issued()


def test_duplicates_absorbed(cloud: Cloud, raw_client: RawClient) -> None:
    ack_topic = f"yz/v1/{VENUE}/d1/ack"
    raw_client.subscribe(ack_topic)
    size = 50
    first = 1_700_000_000_000_000
    payload = batch_payload("d1", reading_items(first, size))

    def publish_and_await_ack(sent: int) -> None:
        raw_client.publish(f"yz/v1/{VENUE}/d1/telemetry", payload)
        wait_for(
            lambda: len(raw_client.received) >= sent,
            timeout=TIMEOUT,
            message=f"no storage ack for publish {sent}",
        )

    # One at a time: three publishes in one ingest transaction would share one ack.
    for sent in range(1, 4):
        publish_and_await_ack(sent)

    assert [m.topic for m in raw_client.received] == [ack_topic] * 3
    for message in raw_client.received:
        ack = json.loads(message.payload)
        assert ack["device"] == "d1"
        assert ack["ranges"] == [[first, first + size - 1]]
    assert cloud.count_readings("d1") == size
    assert cloud.seqs("d1") == list(range(first, first + size))
    assert cloud.stats.stored == size
    assert cloud.stats.duplicates == 2 * size
    assert seq_ranges(cloud.seqs("d1")) == [(first, first + size - 1)]
