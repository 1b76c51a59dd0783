"""Anti-passback memory: when a member last came through each door, and which way at the venue.

Two tables in SQLite, so a restart does not let a code be passed back through the door:

* per door: the last accepted scan of each member at each door (refuse again within N s);
* per venue: the direction of each member's last scan at an "in" or "out" reader (refuse a
  second "in" without an "out" between, and the reverse).

Rows older than ``retention`` are purged on every write, which keeps the file bounded by how
many members pass in that time. Readers on other boxes do not share this file: venue
alternation holds across the readers one box serves.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from edge.errors import EdgeError
from edge.storage import open_sqlite

VenueDirection = Literal["in", "out"]
# Longer than any passback_s or venue_passback_forget_s the config allows (a week).
DEFAULT_RETENTION: Final = timedelta(days=8)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS door_last (
    member_id TEXT NOT NULL,
    door_id TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (member_id, door_id)
);
CREATE INDEX IF NOT EXISTS ix_door_last_at ON door_last (at);
CREATE TABLE IF NOT EXISTS venue_last (
    member_id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_venue_last_at ON venue_last (at);
"""


class PassbackError(EdgeError, RuntimeError):
    """The passback store cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class LastPass:
    direction: VenueDirection
    at: datetime


class Passback:
    """Per-door and per-venue memory of accepted scans; thread-safe."""

    def __init__(self, path: Path, *, retention: timedelta = DEFAULT_RETENTION) -> None:
        self._retention = retention
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = open_sqlite(path, synchronous="NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise PassbackError(
                f"cannot open the passback store at {path}: {exc}; check the disk and permissions"
            ) from exc

    def last_at_door(self, member_id: str, door_id: str) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT at FROM door_last WHERE member_id = ? AND door_id = ?",
                (member_id, door_id),
            ).fetchone()
        return datetime.fromtimestamp(row[0], UTC) if row is not None else None

    def last_in_venue(self, member_id: str) -> LastPass | None:
        with self._lock:
            row = self._db.execute(
                "SELECT direction, at FROM venue_last WHERE member_id = ?", (member_id,)
            ).fetchone()
        if row is None:
            return None
        direction: VenueDirection = "in" if row[0] == "in" else "out"
        return LastPass(direction, datetime.fromtimestamp(row[1], UTC))

    def record(
        self, member_id: str, door_id: str, at: datetime, *, direction: VenueDirection | None
    ) -> None:
        """The door opened for this member; ``direction`` is None at a "both" reader."""
        ts = at.timestamp()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO door_last VALUES (?, ?, ?)", (member_id, door_id, ts)
                )
                if direction is not None:
                    self._db.execute(
                        "INSERT OR REPLACE INTO venue_last VALUES (?, ?, ?)",
                        (member_id, direction, ts),
                    )
                self._purge(at - self._retention)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _purge(self, before: datetime) -> int:
        cut = before.timestamp()
        gone = self._db.execute("DELETE FROM door_last WHERE at < ?", (cut,)).rowcount
        return gone + self._db.execute("DELETE FROM venue_last WHERE at < ?", (cut,)).rowcount

    def purge(self, before: datetime) -> int:
        """Forget passes older than ``before``; returns how many rows went."""
        with self._lock:
            return self._purge(before)

    def size(self) -> int:
        with self._lock:
            door = self._db.execute("SELECT count(*) FROM door_last").fetchone()[0]
            venue = self._db.execute("SELECT count(*) FROM venue_last").fetchone()[0]
        return int(door) + int(venue)

    def close(self) -> None:
        with self._lock:
            self._db.close()
