"""What ingest acks after a commit, on plain calls: no broker, no paho, no threads."""

import json

from cloud.ingest.acks import BrokerAcks, Received, device_ranges, storage_acks
from protocol.payloads import MAX_BATCH_ITEMS


def received(mid: int, *, generation: int) -> Received:
    return Received(generation, mid, "yz/v1/v1/d1/telemetry", b"{}", 0.0)


def test_messages_of_this_connection_are_acked_to_the_broker() -> None:
    acks = BrokerAcks()
    acks.connected()
    assert acks.generation == 1
    batch = [received(1, generation=1), received(2, generation=1)]
    assert acks.mids(batch) == [1, 2]


def test_a_message_from_an_earlier_connection_is_not_acked() -> None:
    acks = BrokerAcks()
    acks.connected()
    old = received(5, generation=acks.generation)
    acks.connected()  # the broker redelivers it; its old mid may name another message now
    assert acks.mids([old, received(5, generation=acks.generation)]) == [5]
    assert acks.mids([old]) == []


def test_a_message_without_a_mid_is_not_acked() -> None:
    acks = BrokerAcks()
    assert acks.mids([received(0, generation=0), received(3, generation=0)]) == [3]


def test_a_device_is_told_its_stored_seqs_as_ranges_without_invalid_ones() -> None:
    assert device_ranges([3, 1, 2, 7, 2]) == [(1, 3), (7, 7)]
    assert device_ranges([-1, 0, 4, 2**63]) == [(4, 4)]
    assert device_ranges([]) == []


def test_storage_acks_go_to_the_device_ack_topic() -> None:
    [(topic, payload)] = list(storage_acks("v1", "d1", [(1, 3), (7, 7)]))
    assert topic == "yz/v1/v1/d1/ack"
    body = json.loads(payload)
    assert body["device"] == "d1"
    assert body["ranges"] == [[1, 3], [7, 7]]


def test_many_ranges_are_split_into_acks_the_device_accepts() -> None:
    ranges = [(seq, seq) for seq in range(1, 2 * MAX_BATCH_ITEMS + 2, 2)]
    parts = [json.loads(payload)["ranges"] for _, payload in storage_acks("v1", "d1", ranges)]
    assert [len(part) for part in parts] == [MAX_BATCH_ITEMS, 1]
    assert [tuple(r) for part in parts for r in part] == ranges


def test_no_ranges_no_ack() -> None:
    assert list(storage_acks("v1", "d1", [])) == []
