"""Trusted time: a door whose clock is wrong still admits today's codes and refuses old ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.reasons import Reason
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from edge.clock import HostTimeSync, Sync, TrustedClock
from firmware_sim.clock import BoardClock
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, certify_phone, issue, prove

TRUE_START = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
KEY = IssuerKey("u2026", Ed25519PrivateKey.from_private_bytes(bytes([3]) * 32))
PHONE = Ed25519PrivateKey.from_private_bytes(bytes([9]) * 32)


class Box(BoardClock):
    """A board's clocks, and a trusted clock on them keeping its floor in ``floor``."""

    def clock(self, floor: Path) -> TrustedClock:
        return TrustedClock(
            wall=self.wall, sync=self.synchronised, floor_file=floor, monotonic=self.monotonic
        )


@pytest.fixture
def floor(tmp_path: Path) -> Path:
    return tmp_path / "clock.json"


def _rebooted(box: Box, floor: Path, *, offset: timedelta, outage_min: float = 10) -> TrustedClock:
    """Ran synchronised, saved its floor, lost power for ``outage_min``, booted offline."""
    before = box.clock(floor)
    box.advance(3 * 60)
    before.close()
    box.advance(outage_min * 60)
    box.reboot(offset=offset)
    return box.clock(floor)


def test_a_synchronised_clock_is_the_wall_clock(floor: Path) -> None:
    box = Box(offset=timedelta(seconds=7))
    clock = box.clock(floor)
    assert clock.now() == box.wall()
    assert clock.synchronised


@pytest.mark.parametrize("offset", [timedelta(days=-2), timedelta(hours=-3), timedelta(minutes=10)])
def test_an_unsynchronised_box_runs_on_its_saved_floor_not_its_wall_clock(
    floor: Path, offset: timedelta
) -> None:
    box = Box()
    clock = _rebooted(box, floor, offset=offset, outage_min=10)
    box.advance(30)
    now = clock.now()
    assert not clock.synchronised
    # 3 min of running before the cut were saved; the 10-min outage is the unknown lag.
    assert now == box.true - timedelta(minutes=10)
    assert now <= box.true


def test_an_issuer_signed_time_lifts_the_bound_and_is_saved(floor: Path) -> None:
    box = Box()
    clock = _rebooted(box, floor, offset=timedelta(hours=-3))
    clock.now()
    assert clock.learn(box.true - timedelta(seconds=2))
    assert clock.now() == box.true - timedelta(seconds=2)
    assert not clock.learn(box.true - timedelta(minutes=5)), "the bound never moves back"
    box.reboot(offset=timedelta(days=-2))
    assert box.clock(floor).now() == box.true - timedelta(seconds=2), "learned time was saved"


def test_a_synchronised_clock_learns_nothing_from_codes(floor: Path) -> None:
    box = Box()
    clock = box.clock(floor)
    assert not clock.learn(box.true + timedelta(hours=1))
    assert clock.now() == box.true


def test_a_battery_clock_is_trusted_unless_it_is_behind_what_the_box_knows(floor: Path) -> None:
    box = Box()
    _rebooted(box, floor, offset=timedelta(0), outage_min=60)
    box.reboot(offset=timedelta(0), sync=Sync.RTC)
    assert box.clock(floor).now() == box.true
    box.reboot(offset=-(box.true - datetime(2000, 1, 1, tzinfo=UTC)), sync=Sync.RTC)
    dead_battery = box.clock(floor)
    assert dead_battery.now() > datetime(2026, 1, 1, tzinfo=UTC)
    assert not dead_battery.synchronised


def test_an_unreadable_floor_starts_from_the_wall_clock(floor: Path) -> None:
    floor.write_text("{not json", encoding="utf-8")
    box = Box(sync=Sync.NONE, offset=timedelta(hours=-3))
    assert box.clock(floor).now() == box.wall()


def test_the_floor_is_saved_on_the_tick_every_few_minutes(floor: Path) -> None:
    box = Box()
    clock = box.clock(floor)
    clock.persist_if_due()
    first = floor.read_text(encoding="utf-8")
    box.advance(30)
    clock.persist_if_due()
    assert floor.read_text(encoding="utf-8") == first, "not due after 30 s"
    box.advance(5 * 60)
    clock.persist_if_due()
    assert floor.read_text(encoding="utf-8") != first


def test_host_sync_reads_timesyncd_then_the_kernel_then_the_rtc(tmp_path: Path) -> None:
    marker, rtc = tmp_path / "synchronized", tmp_path / "rtc0"
    never = HostTimeSync(rtc=True, marker=marker, rtc_device=rtc, kernel=lambda: None)
    assert never() is Sync.NONE
    rtc.touch()
    assert never() is Sync.RTC
    assert HostTimeSync(rtc=False, marker=marker, rtc_device=rtc, kernel=lambda: None)() is (
        Sync.NONE
    )
    assert HostTimeSync(rtc=False, marker=marker, rtc_device=rtc, kernel=lambda: True)() is (
        Sync.NTP
    )
    marker.touch()
    assert never() is Sync.NTP


# --- the verifier on trusted time ---------------------------------------------------------


class Door:
    """A verifier on trusted time over files in one folder; :meth:`reboot` keeps the files."""

    def __init__(self, box: Box, folder: Path) -> None:
        self.box, self.folder = box, folder
        members = MemberCache(folder / "members.db")
        members.apply_snapshot(
            1, [MemberRecord(f"m-{n}", MemberStatus.ACTIVE) for n in range(9)], synced_at=box.true
        )
        members.close()
        self._open()

    def _open(self) -> None:
        self.clock = self.box.clock(self.folder / "clock.json")
        self.members = MemberCache(self.folder / "members.db")
        self.replay = ReplayCache(self.folder / "replay.db")
        keys = KeyRing({KEY.kid: KEY.public_key()})
        self.verifier = Verifier(keys, self.members, self.replay, trusted=self.clock)

    def close(self) -> None:
        self.clock.close()
        self.members.close()
        self.replay.close()

    def reboot(self, *, offset: timedelta, outage_min: float = 10) -> None:
        self.box.advance(3 * 60)
        self.close()
        self.box.advance(outage_min * 60)
        self.box.reboot(offset=offset)
        self._open()

    def show(self, code: str) -> Reason:
        verification = self.verifier.verify(code)
        if verification.reason is Reason.ACCEPTED:
            assert verification.credential is not None
            assert self.verifier.commit(verification.credential)
        return verification.reason


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    opened = Door(Box(), tmp_path)
    yield opened
    opened.close()


OFFSETS = [timedelta(days=-2), timedelta(hours=-3), timedelta(0), timedelta(minutes=10)]


@pytest.mark.parametrize("offset", OFFSETS, ids=["-2d", "-3h", "0", "+10min"])
def test_a_door_booted_offline_with_a_wrong_clock_admits_fresh_codes_only(
    door: Door, offset: timedelta
) -> None:
    box = door.box
    seen = issue("m-0", key=KEY, now=box.true)
    assert door.show(seen) is Reason.ACCEPTED
    door.reboot(offset=offset)
    hour_old = issue("m-1", key=KEY, now=box.true - timedelta(hours=1))
    assert door.show(hour_old) is Reason.EXPIRED, "older than the floor saved before the cut"
    assert door.show(seen) in {Reason.EXPIRED, Reason.REPLAYED}
    fresh = issue("m-2", key=KEY, now=box.true)
    assert door.show(fresh) is Reason.ACCEPTED
    assert not door.clock.synchronised
    assert door.show(fresh) is Reason.REPLAYED
    during_outage = issue("m-3", key=KEY, now=box.true - timedelta(minutes=5))
    assert door.show(during_outage) is Reason.EXPIRED, "older than the fresh code just seen"
    box.advance(20)
    assert door.show(issue("m-4", key=KEY, now=box.true)) is Reason.ACCEPTED


def test_a_phone_proof_is_admitted_ahead_of_the_bound_but_never_moves_it(door: Door) -> None:
    box = door.box
    cert = certify_phone(
        "m-5", key=KEY, phone_public_key=PHONE.public_key(), now=box.true - timedelta(days=1)
    )
    door.reboot(offset=timedelta(hours=-3), outage_min=120)
    bound = door.clock.now()
    assert door.show(prove(cert, phone_key=PHONE, now=box.true)) is Reason.ACCEPTED
    assert door.clock.now() - bound < timedelta(seconds=1), "a phone's time lifted the bound"
    too_far = prove(cert, phone_key=PHONE, now=box.true + timedelta(days=2))
    assert door.show(too_far) is Reason.NOT_YET_VALID
    stale = prove(cert, phone_key=PHONE, now=bound - timedelta(minutes=10))
    assert door.show(stale) is Reason.EXPIRED


def test_a_phone_certificate_signed_during_the_outage_lifts_the_bound(door: Door) -> None:
    box = door.box
    door.reboot(offset=timedelta(days=-2), outage_min=120)
    cert = certify_phone(
        "m-6", key=KEY, phone_public_key=PHONE.public_key(), now=box.true - timedelta(minutes=1)
    )
    assert door.show(prove(cert, phone_key=PHONE, now=box.true)) is Reason.ACCEPTED
    assert door.clock.now() >= box.true - timedelta(minutes=1)


def test_a_synchronised_door_still_refuses_a_code_from_the_future(door: Door) -> None:
    box = door.box
    assert door.show(issue("m-7", key=KEY, now=box.true + timedelta(hours=1))) is (
        Reason.NOT_YET_VALID
    )
    assert door.clock.now() == box.true


def test_a_forged_future_code_never_moves_the_clock(door: Door) -> None:
    box = door.box
    door.reboot(offset=timedelta(hours=-3))
    bound = door.clock.now()
    forger = IssuerKey(KEY.kid, Ed25519PrivateKey.generate())
    assert door.show(issue("m-8", key=forger, now=box.true + timedelta(days=30))) is (
        Reason.BAD_SIGNATURE
    )
    assert door.clock.now() - bound < timedelta(seconds=1)
