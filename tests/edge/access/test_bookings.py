"""Bookings synced from the cloud: slot ± grace, versioned snapshots and deltas, persistence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.access.bookings import (
    Booking,
    BookingDelta,
    BookingGapError,
    Bookings,
    BookingSnapshot,
)

START = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
END = START + timedelta(hours=1)
GRACE = timedelta(minutes=5)


def booking(
    booking_id: str = "b1",
    *,
    member: str = "m1",
    door: str = "room-1",
    start: datetime = START,
    end: datetime = END,
) -> Booking:
    return Booking(booking_id=booking_id, door_id=door, member_id=member, start=start, end=end)


@pytest.fixture
def store(tmp_path: Path) -> Bookings:
    s = Bookings(tmp_path / "bookings.db")
    s.apply_snapshot(BookingSnapshot(version=1, bookings=(booking(),)))
    return s


@pytest.mark.parametrize(
    ("at", "booked"),
    [
        (START - GRACE - timedelta(seconds=1), False),
        (START - GRACE, True),
        (START, True),
        (END - timedelta(seconds=1), True),
        (END + GRACE - timedelta(microseconds=1), True),
        (END + GRACE, False),
    ],
)
def test_slot_with_grace(store: Bookings, at: datetime, booked: bool) -> None:
    assert store.is_booked("m1", "room-1", at, GRACE) is booked


def test_zero_grace_is_the_slot_exactly(store: Bookings) -> None:
    assert not store.is_booked("m1", "room-1", START - timedelta(seconds=1), timedelta(0))
    assert store.is_booked("m1", "room-1", START, timedelta(0))
    assert not store.is_booked("m1", "room-1", END, timedelta(0))


def test_wrong_member_or_room(store: Bookings) -> None:
    assert not store.is_booked("m2", "room-1", START, GRACE)
    assert not store.is_booked("m1", "room-2", START, GRACE)


def test_booking_for_returns_the_slot_in_utc(store: Bookings) -> None:
    found = store.booking_for("m1", "room-1", START, GRACE)
    assert found == booking()
    assert found is not None
    assert found.start.tzinfo is UTC


def test_offsets_are_normalised_to_utc() -> None:
    shanghai = timezone(timedelta(hours=8))
    b = booking(start=START.astimezone(shanghai), end=END.astimezone(shanghai))
    assert b.start.utcoffset() == timedelta(0)
    assert b == booking()


def test_booking_model_refuses_bad_input() -> None:
    with pytest.raises(ValidationError, match="ends before it starts"):
        booking(end=START)
    with pytest.raises(ValidationError, match="timezone"):
        Booking.model_validate(
            {
                "booking_id": "b",
                "door_id": "room-1",
                "member_id": "m",
                "start": "2025-01-06T10:00:00",
                "end": "2025-01-06T11:00:00",
            }
        )
    with pytest.raises(ValidationError):
        booking(door="Room 1")
    with pytest.raises(ValidationError, match="after from_version"):
        BookingDelta(from_version=3, version=3)


def test_snapshot_replaces_everything(store: Bookings) -> None:
    store.apply_snapshot(BookingSnapshot(version=5, bookings=(booking("b2", member="m2"),)))
    assert store.version == 5
    assert not store.is_booked("m1", "room-1", START, GRACE)
    assert store.is_booked("m2", "room-1", START, GRACE)


def test_delta_upserts_moves_and_cancels(store: Bookings) -> None:
    later = START + timedelta(hours=3)
    moved = booking(start=later, end=later + timedelta(hours=1))
    assert store.apply_delta(
        BookingDelta(from_version=1, version=2, upserts=(moved, booking("b2", member="m2")))
    )
    assert not store.is_booked("m1", "room-1", START, GRACE)
    assert store.is_booked("m1", "room-1", later, GRACE)
    assert store.apply_delta(BookingDelta(from_version=2, version=3, cancelled=("b2", "nope")))
    assert not store.is_booked("m2", "room-1", START, GRACE)
    assert store.version == 3


def test_duplicate_delta_is_ignored(store: Bookings) -> None:
    delta = BookingDelta(from_version=1, version=2, cancelled=("b1",))
    assert store.apply_delta(delta)
    store.apply_snapshot(BookingSnapshot(version=2, bookings=(booking(),)))
    assert not store.apply_delta(delta)
    assert store.is_booked("m1", "room-1", START, GRACE)


def test_gap_asks_for_a_snapshot(store: Bookings) -> None:
    with pytest.raises(BookingGapError, match="fetch a snapshot"):
        store.apply_delta(BookingDelta(from_version=4, version=5, cancelled=("b1",)))
    assert store.version == 1
    assert store.is_booked("m1", "room-1", START, GRACE)


def test_empty_store_has_no_version(tmp_path: Path) -> None:
    s = Bookings(tmp_path / "b.db")
    assert s.version == -1
    assert not s.is_booked("m1", "room-1", START, GRACE)
    with pytest.raises(BookingGapError):
        s.apply_delta(BookingDelta(from_version=0, version=1))


def test_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "bookings.db"
    first = Bookings(path)
    first.apply_snapshot(BookingSnapshot(version=7, bookings=(booking(),)))
    first.close()
    again = Bookings(path)
    assert again.version == 7
    assert again.is_booked("m1", "room-1", START, GRACE)


def test_purge_forgets_old_bookings(store: Bookings) -> None:
    assert store.purge(END + timedelta(days=1)) == 0
    assert store.purge(END + timedelta(days=3)) == 1
    assert not store.is_booked("m1", "room-1", START, GRACE)
