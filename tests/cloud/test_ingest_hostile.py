"""Issue 15 at the store: absurd seqs and untrustworthy device times cannot hurt ingest."""

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, text

from cloud.ingest.bounds import TimeBounds
from cloud.ingest.health import judge
from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.settings import IngestLimits
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


def _reasons(engine: Engine) -> dict[str, int]:
    """The refusals stored, as reason -> how many they count."""
    with engine.connect() as conn:
        rows = conn.execute(text('SELECT reason, "count" FROM rejected_message ORDER BY id'))
        return {row[0]: row[1] for row in rows}


def test_readings_from_a_clock_ahead_are_refused_and_kept_by_the_box(engine: Engine) -> None:
    """Finding 7: readings dated 2099 were stored. Then a box whose clock ran minutes fast
    had them acked, and so deleted, and lost: now the box keeps them and sends them again."""
    store = IngestStore(engine, clock=lambda: NOW)
    items = [
        _at(timedelta(minutes=-1), 1),
        _at(timedelta(minutes=4), 2),  # within the 5 minutes a box may be ahead
        _at(timedelta(minutes=30), 3),  # held: not acked
        _at(timedelta(minutes=40), 4),  # held: not acked
        _at(timedelta(days=-40), 5),  # too old: never believed, acked
        {**reading(6), "ts": "2099-01-01T00:00:00Z"},  # beyond what is held: acked
    ]
    result = store.write([message("telemetry", items)])

    assert (result.stored, result.rejected) == (2, 4)
    assert sorted(result.acks[("v1", "d1")]) == [1, 2, 5, 6]  # the box keeps 3 and 4
    _acks_build(result.acks)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT seq FROM reading ORDER BY seq")).scalars().all()
    assert stored == [1, 2]
    reasons = _reasons(engine)
    assert sum(reasons.values()) == 4
    held = next(r for r in reasons if "30 minutes ahead" in r)
    assert reasons[held] == 2  # one kind of refusal: 30 and 40 minutes are counted together
    assert "NTP" in held
    assert "the box keeps this item" in held
    assert any("40 days old" in r and "forgets" in r for r in reasons)
    assert any("ahead" in r and "forgets" in r for r in reasons)


def test_a_held_reading_is_stored_once_the_cloud_clock_reaches_it(engine: Engine) -> None:
    now = [NOW]
    store = IngestStore(engine, clock=lambda: now[0])
    batch = [_at(timedelta(minutes=6), 1)]

    first = store.write([message("telemetry", batch)])
    now[0] = NOW + timedelta(minutes=2)  # the box resends; the cloud's clock has moved on
    again = store.write([message("telemetry", batch)])

    assert (first.stored, first.rejected, first.acks) == (0, 1, {})  # nothing to forget
    assert (again.stored, again.rejected, again.acks[("v1", "d1")]) == (1, 0, [1])


def test_a_box_that_sends_only_held_items_is_still_seen(engine: Engine) -> None:
    store = IngestStore(engine, clock=lambda: NOW)
    store.write([message("telemetry", [_at(timedelta(minutes=10), 1)])])
    with engine.connect() as conn:
        seen = conn.execute(text("SELECT last_seen_at FROM device WHERE id = 'd1'")).scalar()
    assert seen is not None


def test_the_time_bounds_are_settings(engine: Engine) -> None:
    bounds = TimeBounds(max_ahead=timedelta(hours=1), max_age=timedelta(days=400))
    store = IngestStore(engine, clock=lambda: NOW, bounds=bounds)
    items = [_at(timedelta(minutes=30), 1), _at(timedelta(days=-300), 2)]
    assert store.write([message("telemetry", items)]).stored == 2

    no_hold = IngestStore(engine, clock=lambda: NOW, bounds=TimeBounds(max_hold=timedelta(0)))
    refused = no_hold.write([message("telemetry", [_at(timedelta(minutes=30), 3)])])
    assert (refused.rejected, refused.acks[("v1", "d1")]) == (1, [3])  # held for no time at all
    limits = IngestLimits(max_hold_ahead_s=120).time_bounds()
    assert limits.max_hold == timedelta(minutes=2)
    assert IngestLimits().time_bounds() == TimeBounds()


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
