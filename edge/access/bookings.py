"""Room bookings synced from the cloud, kept in SQLite so a booked room opens offline.

The cloud sends a versioned set: a snapshot (every booking, replacing what the box has) or a
delta (upserts and cancellations from ``from_version`` to ``version``). A delta for a version
the box already has is a duplicate and is ignored; a delta that skips versions raises
:class:`BookingGapError`, and the sync fetches a snapshot instead (as for member snapshots).
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Final, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from edge.errors import EdgeError
from edge.storage import open_sqlite
from protocol.ids import ID_PATTERN

# Ended bookings are kept this long (for a late "why did my booking not open?" question).
DEFAULT_KEEP: Final = timedelta(days=2)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bookings (
    booking_id TEXT PRIMARY KEY,
    door_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_bookings_member_door ON bookings (member_id, door_id, end_ts);
CREATE INDEX IF NOT EXISTS ix_bookings_end ON bookings (end_ts);
"""


class BookingError(EdgeError, RuntimeError):
    """The booking store cannot be opened or written."""


class BookingGapError(BookingError):
    """A delta does not follow the version the box has: fetch a snapshot."""


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


# Normalised so equality and storage do not depend on the sender's offset.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


class Booking(BaseModel):
    """One member's slot in one bookable room, in UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    booking_id: Annotated[str, Field(min_length=1, max_length=64)]
    door_id: Annotated[str, Field(pattern=ID_PATTERN)]
    member_id: Annotated[str, Field(min_length=1, max_length=64)]
    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError(f"booking {self.booking_id} ends before it starts; end must be later")
        return self


class BookingSnapshot(BaseModel):
    """Every current booking for this box, at ``version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Annotated[int, Field(ge=0)]
    bookings: tuple[Booking, ...] = ()


class BookingDelta(BaseModel):
    """What changed from ``from_version`` to ``version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_version: Annotated[int, Field(ge=0)]
    version: Annotated[int, Field(ge=1)]
    upserts: tuple[Booking, ...] = ()
    cancelled: tuple[str, ...] = ()  # booking ids

    @model_validator(mode="after")
    def _forward(self) -> Self:
        if self.version <= self.from_version:
            raise ValueError(f"version {self.version} must be after from_version")
        return self


def _row(b: Booking) -> tuple[str, str, str, float, float]:
    return (b.booking_id, b.door_id, b.member_id, b.start.timestamp(), b.end.timestamp())


def _booking(row: tuple[str, str, str, float, float]) -> Booking:
    booking_id, door_id, member_id, start, end = row
    return Booking(
        booking_id=booking_id,
        door_id=door_id,
        member_id=member_id,
        start=datetime.fromtimestamp(start, UTC),
        end=datetime.fromtimestamp(end, UTC),
    )


class Bookings:
    """The box's copy of the booking set; thread-safe."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = open_sqlite(path, synchronous="NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('version', -1)")
        except sqlite3.Error as exc:
            raise BookingError(
                f"cannot open the booking store at {path}: {exc}; check the disk and permissions"
            ) from exc

    @property
    def version(self) -> int:
        """The version applied last; -1 before the first snapshot."""
        with self._lock:
            return self._version()

    def _version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0])

    def _write(self, statements: list[tuple[str, list[tuple[object, ...]]]], version: int) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in statements:
                self._db.executemany(sql, rows)
            self._db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (version,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def apply_snapshot(self, snapshot: BookingSnapshot) -> None:
        """Replace every booking with the snapshot's."""
        with self._lock:
            self._write(
                [
                    ("DELETE FROM bookings", [()]),
                    (
                        "INSERT OR REPLACE INTO bookings VALUES (?, ?, ?, ?, ?)",
                        [_row(b) for b in snapshot.bookings],
                    ),
                ],
                snapshot.version,
            )

    def apply_delta(self, delta: BookingDelta) -> bool:
        """Apply a delta; False if it was already applied. Raises BookingGapError on a gap."""
        with self._lock:
            current = self._version()
            if delta.version <= current:
                return False
            if delta.from_version != current:
                raise BookingGapError(
                    f"bookings are at version {current}, the delta starts at "
                    f"{delta.from_version}: fetch a snapshot"
                )
            self._write(
                [
                    (
                        "INSERT OR REPLACE INTO bookings VALUES (?, ?, ?, ?, ?)",
                        [_row(b) for b in delta.upserts],
                    ),
                    ("DELETE FROM bookings WHERE booking_id = ?", [(i,) for i in delta.cancelled]),
                ],
                delta.version,
            )
        return True

    def booking_for(
        self, member_id: str, door_id: str, now: datetime, grace: timedelta
    ) -> Booking | None:
        """The member's booking at this door whose slot, widened by ``grace``, holds ``now``."""
        ts, pad = now.timestamp(), grace.total_seconds()
        with self._lock:
            row = self._db.execute(
                "SELECT booking_id, door_id, member_id, start_ts, end_ts FROM bookings "
                "WHERE member_id = ? AND door_id = ? AND end_ts + ? > ? AND start_ts - ? <= ? "
                "ORDER BY start_ts LIMIT 1",
                (member_id, door_id, pad, ts, pad, ts),
            ).fetchone()
        return _booking(row) if row is not None else None

    def is_booked(self, member_id: str, door_id: str, now: datetime, grace: timedelta) -> bool:
        return self.booking_for(member_id, door_id, now, grace) is not None

    def next_for(self, member_id: str, door_id: str, now: datetime) -> Booking | None:
        """The member's next booking at this door that has not started by ``now``."""
        with self._lock:
            row = self._db.execute(
                "SELECT booking_id, door_id, member_id, start_ts, end_ts FROM bookings "
                "WHERE member_id = ? AND door_id = ? AND start_ts > ? ORDER BY start_ts LIMIT 1",
                (member_id, door_id, now.timestamp()),
            ).fetchone()
        return _booking(row) if row is not None else None

    def purge(self, now: datetime, *, keep: timedelta = DEFAULT_KEEP) -> int:
        """Forget bookings that ended more than ``keep`` ago; returns how many went."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM bookings WHERE end_ts < ?", ((now - keep).timestamp(),)
            )
        return cursor.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
