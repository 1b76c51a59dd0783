"""One way to open an edge store's SQLite file: WAL, autocommit, shared across threads."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

# How hard a commit waits for the card (https://sqlite.org/pragma.html#pragma_synchronous).
# In WAL mode NORMAL survives any process crash and may lose the last commits to a power
# cut; FULL survives a power cut too, at one more fsync per commit. Each store chooses and
# says why (docs/ARCHITECTURE.md): the outbox NORMAL, the kiosk journal FULL.
Synchronous = Literal["NORMAL", "FULL"]


def open_sqlite(path: Path | str, *, synchronous: Synchronous) -> sqlite3.Connection:
    """Open ``path`` in WAL mode at the given durability.

    The connection is in autocommit (``isolation_level=None``): each statement commits on
    its own and a store opens ``BEGIN IMMEDIATE`` itself where it needs several at once. It
    may be used from any thread (``check_same_thread=False``); the store serialises access
    with its own lock where it has more than one thread.
    """
    if synchronous not in ("NORMAL", "FULL"):  # an f-string goes into the PRAGMA below
        raise ValueError("synchronous must be NORMAL or FULL")
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
    except sqlite3.Error:
        db.close()
        raise
    return db
