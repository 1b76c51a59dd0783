"""The ids of commands a box has executed, kept on disk so a redelivery never runs twice."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final, Protocol

from edge.clock import Clock
from edge.storage import open_sqlite

logger = logging.getLogger(__name__)

# Ids are kept this long past their command's expiry: a box whose clock is corrected
# backwards (NTP after a cold boot) must still refuse a replay of a command it executed.
KEEP_AFTER_EXPIRY: Final = timedelta(days=1)
# SQLite keeps a WAL database in up to three files; they move together or not at all.
_SQLITE_SUFFIXES: Final = ("", "-wal", "-shm")


class SeenStore(Protocol):
    def remember(self, command_id: str, *, until: datetime) -> bool:
        """Record ``command_id``; False if it was recorded before."""
        ...


class SqliteSeenStore:
    """Executed command ids in SQLite, so a restart does not make a command new again."""

    def __init__(self, path: Path, *, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # FULL: an id the box acted on must survive a power cut right after the door opened.
        self._db = open_sqlite(path, synchronous="FULL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS seen_command "
            "(command_id TEXT PRIMARY KEY, until REAL NOT NULL) WITHOUT ROWID;"
            "CREATE INDEX IF NOT EXISTS ix_seen_command_until ON seen_command (until);"
        )

    def remember(self, command_id: str, *, until: datetime) -> bool:
        forget_before = (self._clock() - KEEP_AFTER_EXPIRY).timestamp()
        with self._lock:
            self._db.execute("DELETE FROM seen_command WHERE until < ?", (forget_before,))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO seen_command VALUES (?, ?)",
                (command_id, until.timestamp()),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_seen_store(data_dir: Path, device: str, *, clock: Clock) -> SqliteSeenStore:
    """The box's store, ``{data_dir}/{device}-commands.db``, shared by every command."""
    path = data_dir / f"{device}-commands.db"
    adopt_legacy(path, legacy=data_dir / f"{device}-access" / "commands.db")
    return SqliteSeenStore(path, clock=clock)


def adopt_legacy(path: Path, *, legacy: Path) -> None:
    """Move an older box's store (``{device}-access/commands.db``) to ``path`` once.

    Doors kept their unlock ids inside the access folder; the store now serves every
    command and every role, and a wipe empties the access folder. Moving, not starting
    afresh, keeps an unlock executed just before the upgrade from running again.
    """
    if path.exists() or not legacy.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in _SQLITE_SUFFIXES:
        old = legacy.with_name(legacy.name + suffix)
        if old.exists():
            old.replace(path.with_name(path.name + suffix))
    logger.info("moved the executed-command store from %s to %s", legacy, path)
