"""DoorPolicy: every rule, its order, and what record_entry remembers, on an injected clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from edge.access.bookings import Booking, Bookings, BookingSnapshot
from edge.access.model import Credential
from edge.access.occupancy import Occupancy
from edge.access.passback import Passback
from edge.access.policy import GUESTS_REFUSED_DETAIL, DoorPolicy, PolicyError
from edge.access.reasons import Reason
from protocol.access import GUEST_GROUP
from protocol.door_policy import DoorPolicyConfig
from protocol.membercode import Mode

T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)  # Monday 12:00 in Shanghai


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def member(member_id: str = "m1", *groups: str) -> Credential:
    return Credential(
        mode=Mode.ISSUED,
        member_id=member_id,
        groups=frozenset(groups),
        kid="k1",
        issued_at=T0 - timedelta(seconds=5),
        expires_at=T0 + timedelta(seconds=55),
        replay_key=member_id.encode(),
    )


@dataclass
class Door:
    policy: DoorPolicy
    clock: Clock
    occupancy: Occupancy
    bookings: Bookings
    passback: Passback

    def decide(self, credential: Credential | None = None) -> Reason:
        return self.policy.decide(credential or member())[0]

    def enter(self, credential: Credential | None = None) -> Reason:
        """Scan, and if the door opens, walk through."""
        credential = credential or member()
        reason, _ = self.policy.decide(credential)
        if reason is Reason.ACCEPTED:
            self.policy.record_entry(credential, self.clock())
        return reason


@pytest.fixture
def make(tmp_path: Path) -> Any:
    clock = Clock()
    occupancy = Occupancy(tmp_path / "occ.json", clock=clock, has_beams=True)
    bookings = Bookings(tmp_path / "bookings.db")
    passback = Passback(tmp_path / "pb.db")

    def build(**fields: Any) -> Door:
        config = DoorPolicyConfig.model_validate({"door_id": "d1", **fields})
        policy = DoorPolicy(
            config, occupancy=occupancy, bookings=bookings, passback=passback, clock=clock
        )
        return Door(policy, clock, occupancy, bookings, passback)

    return build


def test_default_station_lets_any_member_in_any_time(make: Any) -> None:
    door = make()
    reason, detail = door.policy.decide(member())
    assert reason is Reason.ACCEPTED
    assert detail == "open at 12:00"
    door.clock.now = datetime(2025, 1, 6, 19, 0, tzinfo=UTC)  # 03:00 local
    assert door.decide() is Reason.ACCEPTED


def test_outside_hours_in_the_door_zone(make: Any) -> None:
    door = make(hours=["daily 07:00-23:00"])
    door.clock.now = datetime(2025, 1, 6, 15, 30, tzinfo=UTC)  # 23:30 Shanghai
    reason, detail = door.policy.decide(member())
    assert reason is Reason.OUTSIDE_HOURS
    assert detail == "closed at Mon 2025-01-06 23:30 Asia/Shanghai"
    door.clock.now = datetime(2025, 1, 6, 14, 59, tzinfo=UTC)  # 22:59 Shanghai
    assert door.decide() is Reason.ACCEPTED


def test_closed_on_an_exception_date(make: Any) -> None:
    door = make(exceptions=[{"date": "2025-01-06", "note": "Spring Festival"}])
    reason, detail = door.policy.decide(member())
    assert reason is Reason.OUTSIDE_HOURS
    assert detail.endswith("(Spring Festival)")


def test_required_groups_any_of(make: Any) -> None:
    door = make(required_groups=["nursing", "staff"])
    reason, detail = door.policy.decide(member("m1", "outdoor"))
    assert reason is Reason.GROUP_REQUIRED
    assert detail == "needs one of nursing,staff; has outdoor"
    assert door.policy.decide(member("m2"))[1] == "needs one of nursing,staff; has none"
    assert door.decide(member("m1", "outdoor", "nursing")) is Reason.ACCEPTED
    assert door.decide(member("m3", "staff")) is Reason.ACCEPTED


def test_guests_are_admitted_by_default(make: Any) -> None:
    door = make()
    assert door.policy.config.admit_guests
    assert door.decide(member("g1", GUEST_GROUP)) is Reason.ACCEPTED


def test_a_door_that_does_not_admit_guests_refuses_a_guest_pass(make: Any) -> None:
    door = make(admit_guests=False)
    assert door.policy.decide(member("g1", GUEST_GROUP)) == (
        Reason.GROUP_REQUIRED,
        GUESTS_REFUSED_DETAIL,
    )
    assert GUESTS_REFUSED_DETAIL == "guests are not admitted at this door"
    assert door.decide(member("m1", "rider")) is Reason.ACCEPTED
    assert door.decide(member("m2")) is Reason.ACCEPTED  # no groups is not a guest
    # Someone in another group as well is judged by that group, not as a guest.
    assert door.decide(member("m3", "rider", GUEST_GROUP)) is Reason.ACCEPTED


def test_admit_guests_and_required_groups_together(make: Any) -> None:
    riders = make(admit_guests=False, required_groups=["rider"])
    assert riders.policy.decide(member("g1", GUEST_GROUP))[1] == GUESTS_REFUSED_DETAIL
    assert riders.decide(member("m1", "rider")) is Reason.ACCEPTED
    assert riders.policy.decide(member("m2", "courier"))[1] == "needs one of rider; has courier"
    # Admitting guests does not let them past a door that requires another group…
    rider_only = make(required_groups=["rider"])
    assert rider_only.policy.decide(member("g1", GUEST_GROUP)) == (
        Reason.GROUP_REQUIRED,
        "needs one of rider; has guest",
    )
    # …unless that door lists the guest group too.
    with_guests = make(required_groups=["rider", GUEST_GROUP])
    assert with_guests.decide(member("g1", GUEST_GROUP)) is Reason.ACCEPTED


def test_a_refused_guest_leaves_no_passback_trace(make: Any) -> None:
    door = make(passback_s=30, admit_guests=False)
    assert door.enter(member("g1", GUEST_GROUP)) is Reason.GROUP_REQUIRED
    assert door.passback.last_at_door("g1", "d1") is None


def test_booking_for_the_member_in_the_slot_with_grace(make: Any) -> None:
    door = make(booking_required=True, booking_grace_s=300)
    slot = Booking(
        booking_id="b1", door_id="d1", member_id="m1", start=T0, end=T0 + timedelta(hours=1)
    )
    other_room = slot.model_copy(update={"booking_id": "b2", "door_id": "d2", "member_id": "m2"})
    door.bookings.apply_snapshot(BookingSnapshot(version=1, bookings=(slot, other_room)))
    door.clock.now = T0 - timedelta(seconds=301)
    assert door.decide() is Reason.NOT_BOOKED
    door.clock.now = T0 - timedelta(seconds=300)
    assert door.decide() is Reason.ACCEPTED
    door.clock.now = T0 + timedelta(hours=1, seconds=299)
    assert door.decide() is Reason.ACCEPTED
    door.clock.now = T0 + timedelta(hours=1, seconds=300)
    reason, detail = door.policy.decide(member())
    assert reason is Reason.NOT_BOOKED
    assert detail == "no booking for this member within ±300s"
    door.clock.now = T0
    assert door.decide(member("m2")) is Reason.NOT_BOOKED  # booked, but another room


def test_passback_at_this_door_within_n_seconds(make: Any) -> None:
    door = make(passback_s=30)
    assert door.enter() is Reason.ACCEPTED
    door.clock.advance(29)
    reason, detail = door.policy.decide(member())
    assert reason is Reason.PASSBACK
    assert detail == "scanned at this door 29s ago (limit 30s)"
    assert door.decide(member("m2")) is Reason.ACCEPTED  # someone else is fine
    door.clock.advance(1)
    assert door.decide() is Reason.ACCEPTED


def test_passback_off_by_default(make: Any) -> None:
    door = make()
    assert door.enter() is Reason.ACCEPTED
    assert door.enter() is Reason.ACCEPTED


def test_refused_scan_leaves_no_passback_trace(make: Any) -> None:
    door = make(passback_s=30, required_groups=["staff"])
    assert door.enter() is Reason.GROUP_REQUIRED
    assert door.passback.last_at_door("m1", "d1") is None


def test_venue_in_out_alternation(make: Any) -> None:
    entrance = make(direction="in", venue_passback=True)
    exit_reader = make(door_id="exit-1", direction="out", venue_passback=True)
    assert entrance.enter() is Reason.ACCEPTED
    entrance.clock.advance(600)
    reason, detail = entrance.policy.decide(member())
    assert reason is Reason.PASSBACK
    assert detail == "already inside: last scan at the venue was also 'in'"
    assert exit_reader.enter() is Reason.ACCEPTED
    assert exit_reader.policy.decide(member())[0] is Reason.PASSBACK  # already outside
    assert entrance.enter() is Reason.ACCEPTED


def test_venue_alternation_is_forgotten_after_a_while(make: Any) -> None:
    # Someone who tailgated out must not be locked out of a 24-hour station for ever.
    entrance = make(direction="in", venue_passback=True, venue_passback_forget_s=3600)
    assert entrance.enter() is Reason.ACCEPTED
    entrance.clock.advance(3599)
    assert entrance.decide() is Reason.PASSBACK
    entrance.clock.advance(1)
    assert entrance.decide() is Reason.ACCEPTED


def test_capacity_full_and_not_full(make: Any) -> None:
    door = make(capacity=2)
    door.occupancy.crossed(entered=1, left=0)
    reason, detail = door.policy.decide(member())
    assert (reason, detail) == (Reason.ACCEPTED, "open at 12:00; 1/2 inside")
    door.occupancy.crossed(entered=1, left=0)
    reason, detail = door.policy.decide(member())
    assert (reason, detail) == (Reason.FULL, "full: 2/2 inside")
    door.occupancy.crossed(entered=0, left=1)
    assert door.decide() is Reason.ACCEPTED


def test_accepted_scan_holds_the_last_place(make: Any) -> None:
    door = make(capacity=1)
    assert door.enter(member("m1")) is Reason.ACCEPTED
    # m1 has not crossed the beams yet; m2 must not get the same place.
    assert door.enter(member("m2")) is Reason.FULL
    door.occupancy.crossed(entered=1, left=0)
    assert door.decide(member("m2")) is Reason.FULL
    door.occupancy.crossed(entered=0, left=1)
    assert door.decide(member("m2")) is Reason.ACCEPTED


def test_full_room_survives_a_restart(make: Any, tmp_path: Path) -> None:
    door = make(capacity=1)
    door.occupancy.crossed(entered=1, left=0)
    again = Occupancy(tmp_path / "occ.json", clock=door.clock, has_beams=True)
    policy = DoorPolicy(
        door.policy.config,
        occupancy=again,
        bookings=None,
        passback=Passback(tmp_path / "pb.db"),
        clock=door.clock,
    )
    assert policy.decide(member())[0] is Reason.FULL


def test_exit_reader_only_checks_passback(make: Any) -> None:
    door = make(
        direction="out",
        hours=["mon 01:00-02:00"],
        required_groups=["staff"],
        booking_required=True,
        capacity=1,
        passback_s=10,
    )
    door.occupancy.crossed(entered=5, left=0)
    assert door.policy.decide(member()) == (Reason.ACCEPTED, "exit")
    door.policy.record_entry(member(), door.clock())
    assert door.decide() is Reason.PASSBACK


def test_check_order(make: Any) -> None:
    door = make(
        hours=["mon 13:00-14:00"],
        required_groups=["staff"],
        booking_required=True,
        passback_s=60,
        capacity=1,
    )
    door.passback.record("m1", "d1", T0, direction=None)
    door.occupancy.crossed(entered=1, left=0)
    staff = member("m1", "staff")
    assert door.decide(staff) is Reason.OUTSIDE_HOURS
    door.clock.now = T0 + timedelta(hours=1)  # 13:00 local
    assert door.decide(member("m1")) is Reason.GROUP_REQUIRED
    assert door.decide(staff) is Reason.NOT_BOOKED
    slot = Booking(
        booking_id="b1",
        door_id="d1",
        member_id="m1",
        start=door.clock.now,
        end=door.clock.now + timedelta(hours=1),
    )
    door.bookings.apply_snapshot(BookingSnapshot(version=1, bookings=(slot,)))
    door.passback.record("m1", "d1", door.clock.now, direction=None)
    assert door.decide(staff) is Reason.PASSBACK
    door.clock.advance(60)
    assert door.decide(staff) is Reason.FULL
    door.occupancy.reconcile(0)
    assert door.decide(staff) is Reason.ACCEPTED


def test_emergency_wins_and_decides_nothing_else(make: Any) -> None:
    door = make(hours=["mon 01:00-02:00"], required_groups=["staff"])
    reason, detail = door.policy.decide(member(), emergency=True)
    assert reason is Reason.EMERGENCY
    assert "unlocked" in detail
    assert door.policy.emergency() == (reason, detail)


def test_record_entry_counts_scans_by_direction(tmp_path: Path) -> None:
    clock = Clock()
    occupancy = Occupancy(tmp_path / "occ.json", clock=clock, has_beams=False)
    passback = Passback(tmp_path / "pb.db")

    def policy(**fields: Any) -> DoorPolicy:
        config = DoorPolicyConfig.model_validate(fields)
        return DoorPolicy(
            config, occupancy=occupancy, bookings=None, passback=passback, clock=clock
        )

    entrance = policy(door_id="in-1", direction="in", venue_passback=True)
    exit_reader = policy(door_id="out-1", direction="out", venue_passback=True)
    entrance.record_entry(member(), clock())
    assert occupancy.current() == 1
    assert passback.last_in_venue("m1") is not None
    exit_reader.record_entry(member(), clock())
    assert occupancy.current() == 0
    venue = passback.last_in_venue("m1")
    assert venue is not None
    assert venue.direction == "out"


def test_missing_collaborators_are_refused(tmp_path: Path) -> None:
    passback = Passback(tmp_path / "pb.db")
    with pytest.raises(PolicyError, match="capacity but no occupancy"):
        DoorPolicy(
            DoorPolicyConfig(door_id="d1", capacity=3),
            occupancy=None,
            bookings=None,
            passback=passback,
            clock=Clock(),
        )
    with pytest.raises(PolicyError, match="needs bookings"):
        DoorPolicy(
            DoorPolicyConfig(door_id="d1", booking_required=True),
            occupancy=None,
            bookings=None,
            passback=passback,
            clock=Clock(),
        )
