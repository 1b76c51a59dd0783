"""The durable outbox: every reading and event is in SQLite before anything is sent.

Rows move pending -> inflight (published, no PUBACK yet) -> sent (broker has it) and are
deleted only when the cloud acks that it stored them. Anything not confirmed goes back to
pending after a restart, a reconnect, or a resend timeout; the cloud absorbs duplicates.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Final

from protocol.payloads import Event, Reading, Scalar
from protocol.topics import Kind

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
DEFAULT_MAX_ROWS: Final = 500_000  # ~100 MB on disk: a week of a busy box's readings

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,
    sent_at REAL
);
CREATE INDEX IF NOT EXISTS ix_outbox_state_seq ON outbox (state, seq);
CREATE INDEX IF NOT EXISTS ix_outbox_kind_seq ON outbox (kind, seq);
"""


class State(IntEnum):
    PENDING = 0
    INFLIGHT = 1
    SENT = 2


@dataclass(frozen=True, slots=True)
class NewReading:
    ts: datetime
    metric: str
    value: float
    sensor: str | None = None


@dataclass(frozen=True, slots=True)
class NewEvent:
    ts: datetime
    type: str
    data: dict[str, Scalar] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    kind: Kind
    body: str  # the item's JSON, seq included, exactly as it will be sent


@dataclass(frozen=True, slots=True)
class OutboxStats:
    depth: int
    unconfirmed: int
    dropped: int
    first_seq: int  # every seq in [first_seq, next_seq) was issued by this outbox
    next_seq: int


class OutboxError(RuntimeError):
    """The outbox file cannot be opened or written."""


def _validated(seq: int, item: NewReading | NewEvent) -> tuple[Kind, str]:
    """Validate with the wire models now, so a bad value fails here, not at the cloud."""
    if isinstance(item, NewReading):
        reading = Reading(
            seq=seq, ts=item.ts, metric=item.metric, value=item.value, sensor=item.sensor
        )
        return Kind.TELEMETRY, reading.model_dump_json(exclude_none=True)
    event = Event(seq=seq, ts=item.ts, type=item.type, data=item.data)
    return Kind.EVENT, event.model_dump_json(exclude_none=True)


class Outbox:
    """A bounded, crash-safe queue of sequenced items, shared by sampler and sender."""

    def __init__(self, path: Path, *, clock: Clock, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self._clock = clock
        self._max_rows = max_rows
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # FULL: a reading the box says it has is on the card, even across a power cut.
            self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;" + _SCHEMA)
            self._seed_sequence()
            self._depth = self._count()
        except sqlite3.Error as exc:
            raise OutboxError(
                f"cannot open the outbox at {path}: {exc}; check the disk and its permissions"
            ) from exc

    def _seed_sequence(self) -> None:
        # Seeded from the clock in microseconds, so a box whose outbox file was lost or
        # replaced still numbers above everything it sent before (the cloud would
        # otherwise drop the new readings as duplicates of old ones).
        seed = int(self._clock().timestamp() * 1_000_000)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('first_seq', ?), ('next_seq', ?), ('dropped', 0)",
            (seed, seed),
        )

    def _count(self, where: str = "1") -> int:
        row = self._db.execute(f"SELECT count(*) FROM outbox WHERE {where}").fetchone()  # noqa: S608
        return int(row[0])

    def _meta(self, key: str) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0])

    def append(self, items: Sequence[NewReading | NewEvent]) -> list[int]:
        """Store items with the next sequence numbers in one transaction; returns them."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                first = self._meta("next_seq")
                rows = [(first + i, *_validated(first + i, item)) for i, item in enumerate(items)]
                self._db.executemany("INSERT INTO outbox (seq, kind, body) VALUES (?, ?, ?)", rows)
                self._db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'next_seq'", (first + len(rows),)
                )
                self._depth += len(rows)
                self._enforce_bound()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._depth = self._count()
                raise
        return [row[0] for row in rows]

    def _enforce_bound(self) -> None:
        excess = self._depth - self._max_rows
        if excess <= 0:
            return
        # Oldest telemetry goes first: a door decision or a jam matters more than one
        # more temperature sample. Events go only when nothing else is left.
        dropped = 0
        for kind in (Kind.TELEMETRY, Kind.EVENT):
            cursor = self._db.execute(
                "DELETE FROM outbox WHERE seq IN "
                "(SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?)",
                (str(kind), excess - dropped),
            )
            dropped += cursor.rowcount
            if dropped >= excess:
                break
        self._depth -= dropped
        self._db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (dropped,))
        logger.warning("outbox full (%d rows): dropped the %d oldest", self._max_rows, dropped)

    def claim(self, *, limit: int, window: int) -> list[Row]:
        """Take up to ``limit`` pending rows for sending, keeping at most ``window`` unconfirmed."""
        with self._lock:
            room = window - self._count(f"state != {State.PENDING:d}")
            take = min(limit, room)
            if take <= 0:
                return []
            rows = self._db.execute(
                "SELECT seq, kind, body FROM outbox WHERE state = ? ORDER BY seq LIMIT ?",
                (State.PENDING, take),
            ).fetchall()
            self._set_state([r[0] for r in rows], State.INFLIGHT)
        return [Row(seq, Kind(kind), body) for seq, kind, body in rows]

    def _set_state(
        self, seqs: Iterable[int], state: State, *, sent_at: float | None = None
    ) -> None:
        self._db.executemany(
            "UPDATE outbox SET state = ?, sent_at = ? WHERE seq = ?",
            [(state, sent_at, seq) for seq in seqs],
        )

    def mark_sent(self, seqs: Iterable[int]) -> None:
        """The broker acknowledged these (PUBACK)."""
        now = self._clock().timestamp()
        with self._lock:
            self._set_state(seqs, State.SENT, sent_at=now)

    def confirm(self, ranges: Iterable[tuple[int, int]]) -> int:
        """The cloud stored these: delete them. Returns how many rows went."""
        with self._lock:
            deleted = 0
            for first, last in ranges:
                cursor = self._db.execute(
                    "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first, last)
                )
                deleted += cursor.rowcount
            self._depth -= deleted
        return deleted

    def requeue(self, *, sent_before: datetime | None = None) -> int:
        """Put unconfirmed rows back to pending: all of them, or those sent before a time."""
        with self._lock:
            if sent_before is None:
                cursor = self._db.execute(
                    "UPDATE outbox SET state = 0, sent_at = NULL WHERE state != 0"
                )
            else:
                cursor = self._db.execute(
                    "UPDATE outbox SET state = 0, sent_at = NULL WHERE state = ? AND sent_at < ?",
                    (State.SENT, sent_before.timestamp()),
                )
            return cursor.rowcount

    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(
                depth=self._depth,
                unconfirmed=self._count(f"state != {State.PENDING:d}"),
                dropped=self._meta("dropped"),
                first_seq=self._meta("first_seq"),
                next_seq=self._meta("next_seq"),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def utc_now() -> datetime:
    return datetime.now(UTC)
