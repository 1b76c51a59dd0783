"""The outbox on an SD card: NORMAL sync, yet no sequence number is ever issued twice."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from edge.outbox import RESERVE_BLOCK, NewReading, Outbox

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def clock() -> datetime:
    return NOW


def readings(count: int) -> list[NewReading]:
    return [NewReading(NOW, "temperature_c", 4.0 + i / 10) for i in range(count)]


def open_outbox(path: Path, *, boot: str) -> Outbox:
    return Outbox(path, clock=clock, boot_id=lambda: boot)


def card_copy(path: Path, to: Path) -> Path:
    """What is on the card now: the database and its WAL as the files hold them."""
    to.mkdir()
    for suffix in ("", "-wal"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            shutil.copyfile(source, to / source.name)
    return to / path.name


def test_the_default_is_wal_with_normal_sync(tmp_path: Path) -> None:
    outbox = open_outbox(tmp_path / "outbox.db", boot="boot-1")
    outbox.close()
    with sqlite3.connect(tmp_path / "outbox.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # synchronous is per connection: check the outbox's own.
    outbox = open_outbox(tmp_path / "outbox.db", boot="boot-1")
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    outbox.close()


def test_a_power_cut_never_reissues_a_published_seq(tmp_path: Path) -> None:
    path = tmp_path / "box" / "outbox.db"
    outbox = open_outbox(path, boot="boot-1")
    outbox.append(readings(10))
    outbox.claim(limit=5, window=100)  # published: the reservation is synced first
    card = card_copy(path, tmp_path / "card")  # all the card is sure to hold from here on
    outbox.append(readings(10))
    published = [row.seq for row in outbox.claim(limit=100, window=100)]
    # The power goes: the card comes back as it was at the copy, and the box boots anew.
    after = open_outbox(card, boot="boot-2")
    stats = after.stats()
    assert stats.next_seq > max(published)
    fresh = after.append(readings(3))
    assert not set(fresh) & set(published)
    assert stats.skipped == stats.next_seq - (stats.first_seq + 10)
    assert stats.skipped <= RESERVE_BLOCK + 20
    after.close()
    outbox.close()


def test_a_process_crash_in_the_same_boot_skips_nothing(tmp_path: Path) -> None:
    path = tmp_path / "box" / "outbox.db"
    outbox = open_outbox(path, boot="boot-1")
    issued = outbox.append(readings(10))
    outbox.claim(limit=10, window=100)
    # Killed: no clean close, but the page cache (and so every commit) survived.
    crashed = card_copy(path, tmp_path / "crash")
    again = open_outbox(crashed, boot="boot-1")
    assert again.stats().next_seq == issued[-1] + 1
    assert again.stats().skipped == 0
    again.close()
    outbox.close()


def test_a_clean_shutdown_then_reboot_skips_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = open_outbox(path, boot="boot-1")
    issued = outbox.append(readings(4))
    outbox.claim(limit=4, window=100)
    outbox.close()
    again = open_outbox(path, boot="boot-2")
    assert again.stats().next_seq == issued[-1] + 1
    assert again.stats().skipped == 0
    assert again.append(readings(1)) == [issued[-1] + 1]
    again.close()


def test_reservations_are_synced_once_per_block_not_per_claim(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    outbox = open_outbox(path, boot="boot-1")
    outbox.append(readings(50))
    reserved: list[int] = []
    for _ in range(10):
        rows = outbox.claim(limit=5, window=100)
        outbox.confirm([(rows[0].seq, rows[-1].seq)])
        reserved.append(outbox._meta("reserved_seq"))
    assert len(set(reserved)) == 1  # one synced write for all fifty
    outbox.close()


def test_an_outbox_from_before_reservations_opens_without_a_skip(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with sqlite3.connect(path) as db:  # the file an older release wrote
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL,"
            " body TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0, sent_at REAL);"
            "INSERT INTO meta VALUES ('first_seq', 100), ('next_seq', 130), ('dropped', 0);"
        )
    outbox = open_outbox(path, boot="boot-9")
    stats = outbox.stats()
    assert (stats.first_seq, stats.next_seq, stats.skipped) == (100, 130, 0)
    assert outbox.append(readings(1)) == [130]
    outbox.close()


def test_without_a_boot_id_an_unclean_close_is_taken_for_a_power_cut(tmp_path: Path) -> None:
    path = tmp_path / "box" / "outbox.db"
    outbox = open_outbox(path, boot="")
    outbox.append(readings(5))
    published = [row.seq for row in outbox.claim(limit=5, window=100)]
    card = card_copy(path, tmp_path / "card")
    after = open_outbox(card, boot="")  # still no boot id: cannot tell a kill from a cut
    assert after.stats().next_seq > max(published)
    assert after.stats().skipped > 0
    after.close()
    outbox.close()
    clean = open_outbox(path, boot="")  # a clean close needs no caution
    assert clean.stats().skipped == 0
    clean.close()
