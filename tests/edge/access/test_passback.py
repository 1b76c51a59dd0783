"""Anti-passback memory: per door, per venue direction, persisted and bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.access.passback import LastPass, Passback

T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)


def test_unknown_member_has_no_history(tmp_path: Path) -> None:
    p = Passback(tmp_path / "pb.db")
    assert p.last_at_door("m1", "d1") is None
    assert p.last_in_venue("m1") is None


def test_records_per_door_and_per_venue(tmp_path: Path) -> None:
    p = Passback(tmp_path / "pb.db")
    p.record("m1", "d1", T0, direction="in")
    p.record("m1", "d2", T0 + timedelta(seconds=5), direction=None)
    assert p.last_at_door("m1", "d1") == T0
    assert p.last_at_door("m1", "d2") == T0 + timedelta(seconds=5)
    assert p.last_at_door("m2", "d1") is None
    # A "both" reader does not change the venue direction.
    assert p.last_in_venue("m1") == LastPass("in", T0)
    p.record("m1", "exit", T0 + timedelta(seconds=9), direction="out")
    assert p.last_in_venue("m1") == LastPass("out", T0 + timedelta(seconds=9))


def test_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "pb.db"
    first = Passback(path)
    first.record("m1", "d1", T0, direction="out")
    first.close()
    again = Passback(path)
    assert again.last_at_door("m1", "d1") == T0
    assert again.last_in_venue("m1") == LastPass("out", T0)


def test_old_entries_are_purged_on_write(tmp_path: Path) -> None:
    p = Passback(tmp_path / "pb.db", retention=timedelta(hours=1))
    for i in range(10):
        p.record(f"m{i}", "d1", T0, direction="in")
    assert p.size() == 20
    p.record("late", "d1", T0 + timedelta(hours=2), direction="in")
    assert p.size() == 2
    assert p.last_at_door("m0", "d1") is None
    assert p.last_in_venue("m0") is None


def test_explicit_purge(tmp_path: Path) -> None:
    p = Passback(tmp_path / "pb.db")
    p.record("m1", "d1", T0, direction="in")
    p.record("m2", "d1", T0 + timedelta(minutes=10), direction=None)
    assert p.purge(T0 + timedelta(minutes=1)) == 2
    assert p.last_at_door("m2", "d1") is not None
