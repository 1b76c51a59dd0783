"""Issue 15 at the store: absurd seqs and untrustworthy device times cannot hurt ingest."""

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text

from cloud.ingest.bounds import TimeBounds
from cloud.ingest.health import judge
from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.store import IngestStore
from protocol.codec import decode_batch, valid_seq
from protocol.payloads import MAX_SEQ, SCHEMA_VERSION, StorageAck, seq_ranges
from protocol.topics import Topic
from tests.cloud.test_ingest_store import NOW, message, reading


def _acks_build(store_acks: dict[tuple[str, str], list[int]]) -> None:
    """What the worker does with a result's acks: each must make a valid StorageAck."""
    for (_venue, device), seqs in store_acks.items():
        StorageAck(v=SCHEMA_VERSION, device=device, ranges=seq_ranges(seqs))


def test_the_codec_keeps_no_seq_outside_the_valid_range() -> None:
    items = [{"seq": seq, "ts": "x"} for seq in (MAX_SEQ + 1, 2**63, 2**64 + 1, -5, 0, True, 1.5)]
    payload = json.dumps({"v": 1, "device": "d1", "items": items}).encode()
    batch = decode_batch(Topic.parse("yz/v1/v1/d1/telemetry"), payload)
    assert [item.seq for item in batch.rejected] == [None] * len(items)
    assert valid_seq(MAX_SEQ) == MAX_SEQ
    assert valid_seq(1) == 1


def test_items_with_seqs_past_max_seq_are_refused_and_never_acked(engine: Engine) -> None:
    """Finding 1: such a seq went into the device's ack, whose model then refused it and
    killed the writer; on SQLite one past 2^63 did not even fit the column."""
    store = IngestStore(engine, clock=lambda: NOW)
    bad = [reading(MAX_SEQ + 1), reading(2**63 + 5), reading(2**64 + 1)]
    result = store.write([message("telemetry", [reading(7), *bad])])

    assert result.stored == 1
    assert result.rejected == 3
    assert result.acks == {("v1", "d1"): [7]}
    _acks_build(result.acks)
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT seq FROM rejected_message")).scalars().all()
    assert set(seqs) == {None}


def _at(delta: timedelta, seq: int) -> dict[str, Any]:
    return {**reading(seq), "ts": (NOW + delta).isoformat()}


def test_readings_from_a_clock_ahead_or_too_old_are_refused_but_acked(engine: Engine) -> None:
    """Finding 7: readings dated 2099 were stored."""
    store = IngestStore(engine, clock=lambda: NOW)
    items = [
        _at(timedelta(minutes=-1), 1),
        _at(timedelta(minutes=4), 2),  # within the 5 minutes a box may be ahead
        _at(timedelta(minutes=30), 3),
        _at(timedelta(days=-40), 4),
        {**reading(5), "ts": "2099-01-01T00:00:00Z"},
    ]
    result = store.write([message("telemetry", items)])

    assert (result.stored, result.rejected) == (2, 3)
    assert sorted(result.acks[("v1", "d1")]) == [1, 2, 3, 4, 5]  # the box forgets all five
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT seq FROM reading ORDER BY seq")).scalars().all()
        reasons = conn.execute(text("SELECT reason FROM rejected_message ORDER BY id")).scalars()
        text_of_all = " | ".join(reasons)
    assert stored == [1, 2]
    assert "clock is 30 minutes ahead of the cloud" in text_of_all
    assert "NTP" in text_of_all
    assert "40 days old" in text_of_all


def test_the_time_bounds_are_settings(engine: Engine) -> None:
    bounds = TimeBounds(max_ahead=timedelta(hours=1), max_age=timedelta(days=400))
    store = IngestStore(engine, clock=lambda: NOW, bounds=bounds)
    items = [_at(timedelta(minutes=30), 1), _at(timedelta(days=-300), 2)]
    assert store.write([message("telemetry", items)]).stored == 2


def _state(status: str, ts: str) -> Inbound:
    payload = json.dumps({"v": 1, "device": "d1", "status": status, "ts": ts}).encode()
    return classify(0, "yz/v1/v1/d1/state", payload)


def test_a_state_dated_ahead_cannot_pin_a_device_online(engine: Engine) -> None:
    """Finding 7: an 'online' dated 2099 made every later real 'offline' look older."""
    store = IngestStore(engine, clock=lambda: NOW)
    store.write([message("telemetry", [reading(1)])])  # the device exists
    future = store.write([_state("online", "2099-01-01T00:00:00Z")])
    assert (future.states, future.rejected) == (0, 1)

    offline = store.write([_state("offline", (NOW - timedelta(seconds=5)).isoformat())])
    assert offline.states == 1
    with engine.connect() as conn:
        online = conn.execute(text("SELECT online FROM device WHERE id = 'd1'")).scalar_one()
        reason = conn.execute(
            text("SELECT reason FROM rejected_message WHERE field_path = 'ts'")
        ).scalar_one()
    assert not online
    assert "ahead of the cloud" in reason
    assert "NTP" in reason


def test_health_says_what_is_wrong() -> None:
    well = judge(
        writer_alive=True,
        last_commit_age_s=500.0,  # idle: nothing waits, so no commit is due
        oldest_queued_age_s=0.0,
        queue_depth=0,
        stall_after_s=60.0,
    )
    assert well.ok
    dead = judge(
        writer_alive=False,
        last_commit_age_s=1.0,
        oldest_queued_age_s=0.0,
        queue_depth=0,
        stall_after_s=60.0,
    )
    assert not dead.ok
    assert "writer thread is not running" in str(dead.problem)
    stalled = judge(
        writer_alive=True,
        last_commit_age_s=90.0,
        oldest_queued_age_s=75.0,
        queue_depth=3,
        stall_after_s=60.0,
        last_error="database write failed: connection refused",
    )
    assert not stalled.ok
    assert "stalled" in str(stalled.problem)
    assert "connection refused" in str(stalled.problem)
    assert stalled.as_json()["status"] == "failing"
