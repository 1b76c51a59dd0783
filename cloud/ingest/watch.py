"""The ingest writer's bookkeeping without its thread: what it has in hand, what a commit
adds to the counters, and whether it keeps up (judged by cloud.ingest.health)."""

from __future__ import annotations

from datetime import datetime

from cloud.ingest.health import IngestHealth, judge
from cloud.ingest.metrics import IngestStats
from cloud.ingest.store import WriteResult


class WriterWatch:
    """Watches one writer. Times are ``time.monotonic()`` seconds, handed in by the caller.

    The writer thread calls :meth:`took`, :meth:`done` and :meth:`committed`; any thread
    may call :meth:`health` and sees a value at most a batch old.
    """

    def __init__(self, stats: IngestStats, *, stall_after_s: float) -> None:
        self._stats = stats
        self._stall_after_s = stall_after_s
        # Receipt of the oldest message of the batch being written; None between batches.
        # With the queue's head, what /healthz calls waiting.
        self._in_hand_since: float | None = None

    @property
    def in_hand_since(self) -> float | None:
        return self._in_hand_since

    def took(self, oldest: float) -> None:
        """The writer took a batch whose oldest message was received at ``oldest``."""
        self._in_hand_since = oldest

    def done(self) -> None:
        """The writer is between batches (written, given up, or failed)."""
        self._in_hand_since = None

    def committed(
        self, result: WriteResult, *, oldest: float, now: float, wall_now: datetime
    ) -> None:
        """A batch committed at ``now``: count it; ``wall_now`` dates its data's age."""
        stats = self._stats
        stats.stored += result.stored
        stats.duplicates += result.duplicates
        stats.rejected += result.rejected
        stats.states += result.states
        stats.transactions += 1
        stats.last_commit = now
        stats.lag_s = now - oldest
        if result.newest is not None:
            stats.data_age_s = max(0.0, (wall_now - result.newest).total_seconds())

    def health(
        self,
        *,
        now: float,
        queue_head: float | None,
        queue_depth: int,
        thread_alive: bool,
        running: bool,
    ) -> IngestHealth:
        """Whether the writer runs and keeps up; ``queue_head`` is the oldest queued receipt."""
        stats = self._stats
        waiting = [t for t in (self._in_hand_since, queue_head) if t is not None]
        return judge(
            # Before start() nothing is expected of the writer; after stop() it has finished.
            writer_alive=thread_alive or not running,
            last_commit_age_s=now - (stats.last_commit or stats.started),
            oldest_queued_age_s=now - min(waiting) if waiting else 0.0,
            queue_depth=queue_depth,
            stall_after_s=self._stall_after_s,
            last_error=stats.last_error,
        )
