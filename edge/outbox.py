"""The durable outbox: every reading and event is in SQLite before anything is sent.

Rows move pending -> inflight (published, no PUBACK yet) -> sent (broker has it) and are
deleted only when the cloud acks that it stored them. Anything not confirmed goes back to
pending after a restart, a reconnect, or a resend timeout; the cloud absorbs duplicates.
So only the rows are on the card; in flight or sent is kept in memory (a restart forgets it,
which is the same as requeueing), and a row costs the card two commits: its insert and its
delete (`yizhan bench sdcard`).

SD cards wear out, so commits use WAL with ``synchronous=NORMAL``: a process crash loses
nothing, a power cut can lose the last moments' commits. What it must never do is hand out
a sequence number twice, or the cloud would drop new readings as duplicates of old ones.
So nothing is published past a *reservation* synced to the card, and an outbox opened
after a power cut (another boot id, no clean close) numbers on from that reservation.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Final

from edge.clock import Clock
from edge.errors import EdgeError
from edge.storage import Synchronous, open_sqlite
from protocol.payloads import Event, Reading, Scalar
from protocol.topics import Kind

logger = logging.getLogger(__name__)

DEFAULT_MAX_ROWS: Final = 500_000  # ~100 MB on disk: a week of a busy box's readings
# Sequence numbers reserved per synced write: one fsync per this many published items
# (hours of a box at default rates), and at most this many numbers skipped after a power cut.
RESERVE_BLOCK: Final = 4096
BOOT_ID: Final = Path("/proc/sys/kernel/random/boot_id")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state INTEGER NOT NULL DEFAULT 0,  -- unused since in-flight state lives in memory
    sent_at REAL
);
DROP INDEX IF EXISTS ix_outbox_state_seq;
CREATE INDEX IF NOT EXISTS ix_outbox_kind_seq ON outbox (kind, seq);
"""
_KINDS: Final = {str(kind): kind for kind in Kind}  # a claimed row's kind without Enum's lookup


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
    first_seq: int  # every seq in [first_seq, next_seq) was issued by this outbox …
    next_seq: int
    skipped: int = 0  # … but these, jumped over after power cuts (never sent, never stored)


class OutboxError(EdgeError, RuntimeError):
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


def read_boot_id() -> str:
    """This boot's id (Linux); a different one means the page cache did not survive."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""  # not Linux: every open counts as a new boot, which is only cautious


class Outbox:
    """A bounded, crash-safe queue of sequenced items, shared by sampler and sender."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        max_rows: int = DEFAULT_MAX_ROWS,
        synchronous: Synchronous = "NORMAL",
        boot_id: Callable[[], str] = read_boot_id,
    ) -> None:
        self._clock = clock
        self._max_rows = max_rows
        self._synchronous = synchronous
        self._lock = threading.Lock()
        # seq -> when the broker took it (None: published, no PUBACK yet).
        self._inflight: dict[int, float | None] = {}
        # Every row below this seq is in flight (or gone), so a claim reads from here on,
        # not past the whole window again; a requeue moves it back (``yizhan bench drain``).
        self._pending_from = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = open_sqlite(path, synchronous=synchronous)
            self._db.executescript(_SCHEMA)
            self._seed_sequence()
            self._recover(boot_id())
            self._reserved = self._meta("reserved_seq")
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
        # An outbox from before reservations starts with none beyond what it issued.
        self._db.execute(
            "INSERT OR IGNORE INTO meta SELECT 'reserved_seq', value FROM meta "
            "WHERE key = 'next_seq'"
        )
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('skipped', 0), ('clean', 1)")

    def _recover(self, boot: str) -> None:
        """After a power cut, number on from the synced reservation; mark this open."""
        stored = self._db.execute("SELECT value FROM meta WHERE key = 'boot'").fetchone()
        # No boot id to compare (not Linux, /proc hidden): assume the worst after an
        # unclean close, since skipping numbers is cheap and reissuing them loses data.
        rolled_back = (
            stored is not None and not self._meta("clean") and (not boot or stored[0] != boot)
        )
        next_seq, reserved = self._meta("next_seq"), self._meta("reserved_seq")
        with self._synced():
            if rolled_back and next_seq < reserved:
                # Numbers in [next_seq, reserved) may have been published and then lost
                # from the card: never issue them again.
                logger.warning(
                    "outbox opened after a power cut: skipping seq %d..%d", next_seq, reserved - 1
                )
                skipped = reserved - next_seq
                self._db.execute(
                    "UPDATE meta SET value = value + ? WHERE key = 'skipped'", (skipped,)
                )
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (reserved,))
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('boot', ?)", (boot,))
            self._db.execute("UPDATE meta SET value = 0 WHERE key = 'clean'")

    @contextmanager
    def _synced(self) -> Iterator[None]:
        """One transaction that is on the card when it returns, whatever the default."""
        self._db.execute("PRAGMA synchronous=FULL")
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        finally:
            self._db.execute(f"PRAGMA synchronous={self._synchronous}")

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
            gone = self._db.execute(
                "DELETE FROM outbox WHERE seq IN "
                "(SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?) RETURNING seq",
                (str(kind), excess - dropped),
            ).fetchall()
            self._forget(seq for (seq,) in gone)
            dropped += len(gone)
            if dropped >= excess:
                break
        self._depth -= dropped
        self._db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped'", (dropped,))
        logger.warning("outbox full (%d rows): dropped the %d oldest", self._max_rows, dropped)

    def claim(self, *, limit: int, window: int) -> list[Row]:
        """Take up to ``limit`` pending rows for sending, keeping at most ``window`` unconfirmed."""
        with self._lock:
            take = min(limit, window - len(self._inflight))
            if take <= 0:
                return []
            # The oldest rows that are not in flight: reads only, nothing written. The
            # cursor steps lazily, so only the rows taken (and any a requeue left in flight
            # between them) are read.
            cursor = self._db.execute(
                "SELECT seq, kind, body FROM outbox WHERE seq >= ? ORDER BY seq",
                (self._pending_from,),
            )
            try:
                rows = list(islice((r for r in cursor if r[0] not in self._inflight), take))
            finally:
                cursor.close()
            if not rows:
                return []
            last = rows[-1][0]
            self._reserve_through(last)
            self._inflight.update((row[0], None) for row in rows)
            self._pending_from = last + 1  # everything up to ``last`` is in flight now
        return [Row(seq, _KINDS[kind], body) for seq, kind, body in rows]

    def _reserve_through(self, seq: int) -> None:
        """Before ``seq`` leaves the box, make sure no later open can issue it again."""
        if seq < self._reserved:
            return
        reserved = max(seq + 1, self._meta("next_seq")) + RESERVE_BLOCK
        with self._synced():
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'reserved_seq'", (reserved,))
        self._reserved = reserved

    def mark_sent(self, seqs: Iterable[int]) -> None:
        """The broker acknowledged these (PUBACK)."""
        now = self._clock().timestamp()
        with self._lock:
            for seq in seqs:
                if seq in self._inflight:
                    self._inflight[seq] = now

    def confirm(self, ranges: Iterable[tuple[int, int]]) -> int:
        """The cloud stored these: delete them. Returns how many rows went."""
        with self._lock:
            deleted = 0
            for first, last in ranges:
                cursor = self._db.execute(
                    "DELETE FROM outbox WHERE seq BETWEEN ? AND ?", (first, last)
                )
                deleted += cursor.rowcount
                if last - first < len(self._inflight):  # a batch's range: walk it, not all
                    self._forget(range(first, last + 1))
                else:
                    self._forget(seq for seq in self._inflight if first <= seq <= last)
            self._depth -= deleted
        return deleted

    def _forget(self, seqs: Iterable[int]) -> None:
        for seq in list(seqs):
            self._inflight.pop(seq, None)

    def requeue(self, *, sent_before: datetime | None = None) -> int:
        """Put unconfirmed rows back to pending: all of them, or those sent before a time."""
        with self._lock:
            if sent_before is None:
                count = len(self._inflight)
                self._inflight.clear()
                self._pending_from = 0
                return count
            cutoff = sent_before.timestamp()
            stale = [s for s, at in self._inflight.items() if at is not None and at < cutoff]
            self._forget(stale)
            self._pending_from = min([self._pending_from, *stale])
            return len(stale)

    def sent(self) -> int:
        """Rows the broker took (PUBACK) that the cloud has not confirmed yet."""
        with self._lock:
            return sum(1 for at in self._inflight.values() if at is not None)

    def stats(self) -> OutboxStats:
        with self._lock:
            return OutboxStats(
                depth=self._depth,
                unconfirmed=len(self._inflight),
                dropped=self._meta("dropped"),
                first_seq=self._meta("first_seq"),
                next_seq=self._meta("next_seq"),
                skipped=self._meta("skipped"),
            )

    def close(self) -> None:
        """Mark a clean close (synced), so the next open needs to skip nothing."""
        with self._lock:
            try:
                with self._synced():
                    self._db.execute("UPDATE meta SET value = 1 WHERE key = 'clean'")
            except sqlite3.Error as exc:  # closing anyway; the next open is only cautious
                logger.warning("outbox: could not mark a clean close: %s", exc)
            self._db.close()
