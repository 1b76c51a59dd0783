"""MemberCache: snapshot + deltas, version gaps, persistence, staleness."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.access.members import DEFAULT_MAX_OFFLINE_AGE, DeltaGapError, MemberCache
from protocol.access import (
    MemberDelta,
    MemberEntry,
    MemberRecord,
    MemberSnapshot,
    MemberStatus,
    SnapshotHeader,
    dump_snapshot,
    load_snapshot,
)
from protocol.errors import PayloadError

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
ACTIVE, REVOKED = MemberStatus.ACTIVE, MemberStatus.REVOKED


def _snapshot(cache: MemberCache) -> None:
    cache.apply_snapshot(
        5,
        [
            MemberRecord("m-1", ACTIVE, ("rider",)),
            MemberRecord("m-2", REVOKED),
            MemberRecord("m-3", ACTIVE, (), 1_700_000_000),
        ],
        synced_at=NOW,
    )


def test_snapshot_then_lookups(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    assert cache.version is None
    _snapshot(cache)
    assert cache.version == 5
    assert cache.synced_at == NOW
    assert len(cache) == 3
    assert not cache.is_revoked("m-1")
    assert cache.is_revoked("m-2")
    assert not cache.is_revoked("unknown")
    assert cache.lookup("m-1") == MemberRecord("m-1", ACTIVE, ("rider",), None)
    assert cache.lookup("m-3") == MemberRecord("m-3", ACTIVE, (), 1_700_000_000)
    assert cache.lookup("nobody") is None


def test_persisted_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "members.db"
    _snapshot(MemberCache(path))
    again = MemberCache(path)
    assert again.version == 5
    assert again.is_revoked("m-2")


def test_a_new_snapshot_replaces_everything(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    _snapshot(cache)
    cache.apply_snapshot(9, [MemberRecord("m-9", REVOKED)], synced_at=NOW + timedelta(hours=1))
    assert cache.version == 9
    assert len(cache) == 1
    assert not cache.is_revoked("m-2")


def test_a_snapshot_that_breaks_off_leaves_the_old_cache(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    _snapshot(cache)

    def broken() -> Iterator[MemberRecord]:
        yield MemberRecord("x", REVOKED)
        raise PayloadError("line 3", "connection lost")

    with pytest.raises(PayloadError):
        cache.apply_snapshot(6, broken(), synced_at=NOW)
    assert cache.version == 5
    assert cache.is_revoked("m-2")
    assert not cache.is_revoked("x")


def test_delta_applies_in_order(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    _snapshot(cache)
    later = NOW + timedelta(hours=2)
    cache.apply_delta(
        5,
        6,
        [MemberRecord("m-1", REVOKED), MemberRecord("m-2", ACTIVE), MemberRecord("m-4", REVOKED)],
        synced_at=later,
    )
    assert cache.version == 6
    assert cache.synced_at == later
    assert cache.is_revoked("m-1")
    assert not cache.is_revoked("m-2")
    assert cache.is_revoked("m-4")


def test_heartbeat_delta_renews_sync_time(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    _snapshot(cache)
    later = NOW + timedelta(days=3)
    cache.apply_delta(5, 5, [], synced_at=later)
    assert cache.version == 5
    assert cache.synced_at == later


@pytest.mark.parametrize(("start", "end"), [(4, 6), (6, 7), (5, 4)])
def test_delta_that_does_not_start_at_the_version_is_refused(
    tmp_path: Path, start: int, end: int
) -> None:
    cache = MemberCache(tmp_path / "members.db")
    _snapshot(cache)
    with pytest.raises(DeltaGapError):
        cache.apply_delta(start, end, [MemberRecord("m-1", REVOKED)], synced_at=NOW)
    assert cache.version == 5
    assert not cache.is_revoked("m-1")


def test_delta_on_a_never_synced_cache_needs_a_snapshot(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    with pytest.raises(DeltaGapError, match="snapshot"):
        cache.apply_delta(0, 1, [], synced_at=NOW)


def test_staleness(tmp_path: Path) -> None:
    cache = MemberCache(tmp_path / "members.db")
    never = cache.staleness(NOW)
    assert never is not None
    assert "never synced" in never
    _snapshot(cache)
    assert cache.age(NOW + timedelta(hours=1)) == timedelta(hours=1)
    assert cache.staleness(NOW + DEFAULT_MAX_OFFLINE_AGE) is None
    stale = cache.staleness(NOW + DEFAULT_MAX_OFFLINE_AGE + timedelta(seconds=1))
    assert stale is not None
    assert "7.0 days old" in stale
    assert "network" in stale
    short = cache.staleness(NOW + timedelta(hours=3), timedelta(hours=2))
    assert short is not None
    assert "3.0 hours" in short


def test_wire_models_feed_the_cache(tmp_path: Path) -> None:
    snapshot = MemberSnapshot(
        version=2,
        generated_at=NOW,
        members=(
            MemberEntry(member_id="m-1", status=ACTIVE, groups=("rider",)),
            MemberEntry(member_id="m-2", status=REVOKED),
            MemberEntry(member_id="m-3", status=ACTIVE, phone_certs_after=NOW),
        ),
    )
    header, entries = load_snapshot(dump_snapshot(snapshot.header(), snapshot.members))
    cache = MemberCache(tmp_path / "members.db")
    cache.apply_snapshot(
        header.version, (e.record() for e in entries), synced_at=header.generated_at
    )
    assert cache.is_revoked("m-2")
    record = cache.lookup("m-3")
    assert record is not None
    assert record.phone_certs_after == int(NOW.timestamp())
    delta = MemberDelta.model_validate_json(
        '{"v":1,"from_version":2,"to_version":3,"generated_at":"2025-05-01T04:00:00Z",'
        '"changes":[{"member_id":"m-1","status":"revoked"}]}'
    )
    cache.apply_delta(
        delta.from_version,
        delta.to_version,
        (c.record() for c in delta.changes),
        synced_at=delta.generated_at,
    )
    assert cache.is_revoked("m-1")


def _load_all(lines: list[str]) -> list[MemberEntry]:
    _header, entries = load_snapshot(lines)
    return list(entries)


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["{}"],
        [
            '{"v":1,"kind":"member_snapshot","version":1,"generated_at":"2025-05-01T00:00:00Z","count":2}',
            '{"member_id":"a","status":"active"}',
        ],
        [
            '{"v":1,"kind":"member_snapshot","version":1,"generated_at":"2025-05-01T00:00:00Z","count":1}',
            '{"member_id":"a b","status":"active"}',
        ],
        [
            '{"v":1,"kind":"member_snapshot","version":1,"generated_at":"2025-05-01T00:00:00Z","count":1}',
            '{"member_id":"a","status":"gone"}',
        ],
        [
            '{"v":1,"kind":"member_snapshot","version":1,"generated_at":"2025-05-01T00:00:00Z","count":0}',
            '{"member_id":"a","status":"active"}',
        ],
    ],
)
def test_broken_ndjson_snapshot_is_a_payload_error(lines: list[str]) -> None:
    with pytest.raises(PayloadError):
        _load_all(lines)


def test_delta_models_refuse_going_backwards() -> None:
    with pytest.raises(ValueError, match="before"):
        MemberDelta(from_version=3, to_version=2, generated_at=NOW)


def test_header_count_is_checked_when_dumping() -> None:
    header = SnapshotHeader(version=1, generated_at=NOW, count=2)
    with pytest.raises(PayloadError):
        list(dump_snapshot(header, [MemberEntry(member_id="a", status=ACTIVE)]))


def test_a_cache_from_before_memberships_had_an_end_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE members (member_id TEXT PRIMARY KEY, revoked INTEGER NOT NULL, "
        "groups TEXT NOT NULL, phone_certs_after INTEGER) WITHOUT ROWID;"
        "INSERT INTO members VALUES ('m-old', 0, 'rider', NULL);"
    )
    old.commit()
    old.close()
    cache = MemberCache(path)
    try:
        assert cache.lookup("m-old") == MemberRecord("m-old", MemberStatus.ACTIVE, ("rider",))
        lapsing = MemberRecord("m-new", MemberStatus.ACTIVE, (), None, 1_900_000_000)
        cache.apply_snapshot(3, [lapsing], synced_at=datetime(2026, 1, 1, tzinfo=UTC))
        assert cache.lookup("m-new") == lapsing
    finally:
        cache.close()


def test_a_membership_end_travels_from_the_wire_to_the_cache(tmp_path: Path) -> None:
    until = datetime(2027, 1, 1, tzinfo=UTC)
    entry = MemberEntry(member_id="m-9", status=MemberStatus.ACTIVE, valid_until=until)
    cache = MemberCache(tmp_path / "members.db")
    try:
        cache.apply_snapshot(1, [entry.record()], synced_at=datetime(2026, 1, 1, tzinfo=UTC))
        record = cache.lookup("m-9")
        assert record is not None
        assert record.valid_until == int(until.timestamp())
    finally:
        cache.close()
