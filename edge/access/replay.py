"""Codes already used at this door, remembered in SQLite until they could no longer pass."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Final

from edge.storage import Synchronous, open_sqlite

logger = logging.getLogger(__name__)

# A door lets a few people a minute through and a code lives at most an hour: a busy door
# holds a few thousand live entries. The bound only matters against a flood.
DEFAULT_MAX_ENTRIES: Final = 200_000
# Deleting expired rows is an indexed range delete; doing it every so many inserts keeps the
# table small without a scheduler.
PURGE_EVERY: Final = 256

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS replay (
    key BLOB PRIMARY KEY,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replay_expires ON replay (expires_at);
"""


class ReplayCache:
    """``check_and_remember`` is one atomic statement, so two scans of the same code (two
    threads, or a crash between them) can never both be first.

    Durability: WAL with ``synchronous=NORMAL`` survives any process crash or restart; a power
    cut may lose the last few entries. Those codes are at most minutes old, and a box takes
    longer than that to boot, so they have usually expired too. Pass ``synchronous="FULL"``
    for an fsync per accepted code.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        synchronous: Synchronous = "NORMAL",
    ) -> None:
        self._db = open_sqlite(path, synchronous=synchronous)
        self.max_entries = max_entries
        self._db.executescript(_SCHEMA)
        self._inserts = 0

    def close(self) -> None:
        self._db.close()

    def check_and_remember(self, replay_key: bytes, expires_at: datetime, now: datetime) -> bool:
        """True if this key was not live here (and it is now remembered), False if it was.

        An entry past its ``expires_at`` is dead: the same key may be remembered again.
        """
        expires, current = int(expires_at.timestamp()) + 1, int(now.timestamp())
        cursor = self._db.execute(
            "INSERT INTO replay (key, expires_at) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at "
            "WHERE replay.expires_at < ?",
            (replay_key, expires, current),
        )
        fresh = cursor.rowcount == 1
        if fresh:
            self._inserts += 1
            if self._inserts % PURGE_EVERY == 0:
                self.purge(now)
        return fresh

    def seen(self, replay_key: bytes, now: datetime) -> bool:
        """Whether the key is live here, without remembering it (a read, for ``verify``)."""
        row = self._db.execute(
            "SELECT 1 FROM replay WHERE key = ? AND expires_at >= ?",
            (replay_key, int(now.timestamp())),
        ).fetchone()
        return row is not None

    def purge(self, now: datetime) -> int:
        """Forget expired entries; past ``max_entries``, also those closest to expiring."""
        removed = self._db.execute(
            "DELETE FROM replay WHERE expires_at < ?", (int(now.timestamp()),)
        ).rowcount
        excess = len(self) - self.max_entries
        if excess > 0:
            # Only reachable with more live codes than any door sees: forget the ones that
            # die soonest, and say so, rather than refuse every member from now on.
            logger.warning(
                "replay cache over %d live entries; forgetting %d", self.max_entries, excess
            )
            removed += self._db.execute(
                "DELETE FROM replay WHERE key IN "
                "(SELECT key FROM replay ORDER BY expires_at LIMIT ?)",
                (excess,),
            ).rowcount
        return removed

    def __len__(self) -> int:
        count: int = self._db.execute("SELECT count(*) FROM replay").fetchone()[0]
        return count
