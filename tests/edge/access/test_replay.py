"""ReplayCache: atomic first-use, persistence across restarts, cheap purge, a bound."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.access.replay import PURGE_EVERY, ReplayCache

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=90)


def test_first_use_true_second_false(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.db")
    assert cache.check_and_remember(b"k1", LATER, NOW)
    assert not cache.check_and_remember(b"k1", LATER, NOW)
    assert not cache.check_and_remember(b"k1", LATER, NOW + timedelta(seconds=60))
    assert cache.check_and_remember(b"k2", LATER, NOW)
    assert cache.seen(b"k1", NOW)
    assert not cache.seen(b"k3", NOW)


def test_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    first = ReplayCache(path)
    assert first.check_and_remember(b"k1", LATER, NOW)
    first.close()
    again = ReplayCache(path)
    assert not again.check_and_remember(b"k1", LATER, NOW + timedelta(seconds=30))
    assert again.seen(b"k1", NOW)


def test_an_entry_dies_after_its_expiry(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.db")
    assert cache.check_and_remember(b"k1", LATER, NOW)
    after = LATER + timedelta(seconds=2)
    assert not cache.seen(b"k1", after)
    assert cache.check_and_remember(b"k1", after + timedelta(seconds=60), after)


def test_purge_removes_only_expired(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.db")
    cache.check_and_remember(b"old", NOW, NOW)
    cache.check_and_remember(b"new", LATER, NOW)
    assert cache.purge(NOW + timedelta(seconds=10)) == 1
    assert len(cache) == 1


def test_purge_runs_by_itself_every_so_many_inserts(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.db")
    for i in range(PURGE_EVERY - 1):
        cache.check_and_remember(i.to_bytes(4), NOW, NOW)
    assert len(cache) == PURGE_EVERY - 1
    cache.check_and_remember(b"trigger", LATER, NOW + timedelta(seconds=5))
    assert len(cache) == 1


def test_bounded_forgets_soonest_to_expire(tmp_path: Path) -> None:
    cache = ReplayCache(tmp_path / "replay.db", max_entries=10)
    for i in range(20):
        cache.check_and_remember(i.to_bytes(4), LATER + timedelta(seconds=i), NOW)
    cache.purge(NOW)
    assert len(cache) == 10
    assert cache.seen((19).to_bytes(4), NOW)
    assert not cache.seen((0).to_bytes(4), NOW)


def test_two_threads_racing_one_key_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    caches = [ReplayCache(path), ReplayCache(path, synchronous="FULL")]
    barrier = threading.Barrier(len(caches))
    results: list[bool] = []

    def use(cache: ReplayCache) -> None:
        barrier.wait(timeout=5)
        results.append(cache.check_and_remember(b"same", LATER, NOW))

    threads = [threading.Thread(target=use, args=(cache,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(results) == [False, True]
