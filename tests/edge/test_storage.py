"""Each edge store opens SQLite through one helper, at the durability it chose."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.access.bookings import Bookings
from edge.access.members import MemberCache
from edge.access.passback import Passback
from edge.access.replay import ReplayCache
from edge.control.seen import SqliteSeenStore
from edge.kiosk.journal import Journal
from edge.outbox import Outbox
from edge.storage import open_sqlite

_NORMAL, _FULL = 1, 2  # PRAGMA synchronous reads back as a number


def _now() -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("level", "expected"), [("NORMAL", _NORMAL), ("FULL", _FULL)])
def test_open_sqlite_is_wal_autocommit_at_the_level_asked(
    tmp_path: Path, level: str, expected: int
) -> None:
    db = open_sqlite(tmp_path / "x.db", synchronous=level)  # type: ignore[arg-type]
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == expected
        assert db.isolation_level is None
    finally:
        db.close()


def test_open_sqlite_refuses_another_level(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NORMAL or FULL"):
        open_sqlite(tmp_path / "x.db", synchronous="OFF")  # type: ignore[arg-type]
    assert not (tmp_path / "x.db").exists()


# Durability each store chose (docs/ARCHITECTURE.md): what must survive a power cut is FULL.
STORES: list[tuple[str, Callable[[Path], object], int]] = [
    ("outbox", lambda p: Outbox(p, clock=_now, boot_id=lambda: "boot"), _NORMAL),
    ("members", MemberCache, _NORMAL),
    ("replay", ReplayCache, _NORMAL),
    ("passback", Passback, _NORMAL),
    ("bookings", Bookings, _NORMAL),
    ("kiosk journal", lambda p: Journal(p, clock=_now), _FULL),
    ("seen commands", lambda p: SqliteSeenStore(p, clock=_now), _FULL),
]


@pytest.mark.parametrize(("make", "expected"), [s[1:] for s in STORES], ids=[s[0] for s in STORES])
def test_each_store_keeps_its_durability(
    tmp_path: Path, make: Callable[[Path], object], expected: int
) -> None:
    store = make(tmp_path / "store.db")
    db = store._db  # type: ignore[attr-defined]
    assert isinstance(db, sqlite3.Connection)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == expected
    finally:
        db.close()
