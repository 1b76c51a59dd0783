"""The ingest writer's bookkeeping and health on plain calls: times are handed in."""

from datetime import UTC, datetime, timedelta

from cloud.ingest.metrics import IngestStats
from cloud.ingest.store import WriteResult
from cloud.ingest.watch import WriterWatch

WALL = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)


def watch(
    *, started: float = 100.0, stall_after_s: float = 60.0
) -> tuple[WriterWatch, IngestStats]:
    stats = IngestStats(started=started)
    return WriterWatch(stats, stall_after_s=stall_after_s), stats


def test_a_commit_is_counted_with_its_lag_and_data_age() -> None:
    w, stats = watch()
    result = WriteResult(stored=3, duplicates=1, rejected=2, states=1, newest=WALL)
    w.committed(result, oldest=110.0, now=112.5, wall_now=WALL + timedelta(seconds=7))
    assert (stats.stored, stats.duplicates, stats.rejected, stats.states) == (3, 1, 2, 1)
    assert stats.transactions == 1
    assert stats.last_commit == 112.5
    assert stats.lag_s == 2.5
    assert stats.data_age_s == 7.0


def test_data_from_the_future_is_not_given_a_negative_age() -> None:
    w, stats = watch()
    w.committed(WriteResult(newest=WALL), oldest=1.0, now=2.0, wall_now=WALL - timedelta(hours=1))
    assert stats.data_age_s == 0.0


def test_a_commit_without_timestamps_keeps_the_last_data_age() -> None:
    w, stats = watch()
    stats.data_age_s = 4.0
    w.committed(WriteResult(stored=1), oldest=1.0, now=2.0, wall_now=WALL)
    assert stats.data_age_s == 4.0


def test_an_idle_writer_is_healthy_however_long_since_the_last_commit() -> None:
    w, _ = watch()
    health = w.health(now=1000.0, queue_head=None, queue_depth=0, thread_alive=True, running=True)
    assert health.ok
    assert health.oldest_queued_age_s == 0.0
    assert health.last_commit_age_s == 900.0  # from the start, before a first commit


def test_a_message_waiting_past_the_limit_with_no_commit_is_a_stall() -> None:
    w, stats = watch(stall_after_s=60.0)
    stats.last_error = "database write failed: down"
    health = w.health(now=200.0, queue_head=130.0, queue_depth=4, thread_alive=True, running=True)
    assert not health.ok
    assert health.problem is not None
    assert "stalled" in health.problem
    assert "database write failed: down" in health.problem
    assert health.oldest_queued_age_s == 70.0
    assert health.queue_depth == 4


def test_a_recent_commit_is_not_a_stall() -> None:
    w, _ = watch()
    w.committed(WriteResult(), oldest=100.0, now=190.0, wall_now=WALL)
    assert w.health(now=200.0, queue_head=130.0, queue_depth=1, thread_alive=True, running=True).ok


def test_the_batch_in_hand_counts_as_waiting_until_done() -> None:
    w, _ = watch()
    w.took(120.0)
    assert w.in_hand_since == 120.0
    health = w.health(now=200.0, queue_head=150.0, queue_depth=1, thread_alive=True, running=True)
    assert health.oldest_queued_age_s == 80.0
    assert not health.ok
    w.done()
    assert w.in_hand_since is None
    assert w.health(now=200.0, queue_head=None, queue_depth=0, thread_alive=True, running=True).ok


def test_a_dead_writer_thread_is_failing_only_while_the_worker_runs() -> None:
    w, _ = watch()
    dead = w.health(now=101.0, queue_head=None, queue_depth=0, thread_alive=False, running=True)
    assert not dead.writer_alive
    assert dead.problem is not None
    assert "writer thread is not running" in dead.problem
    # before start() and after stop() nothing is expected of the writer
    idle = w.health(now=101.0, queue_head=None, queue_depth=0, thread_alive=False, running=False)
    assert idle.writer_alive
    assert idle.ok
