"""Limits on what hellos can store: a flood of forgeries stays bounded (issue 15, finding 9)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from cloud.devices.broker_admin import OpenBrokerAdmin
from cloud.devices.control import ControlEndpoint, DeviceControl
from cloud.devices.hello import note_hello, pending_boxes
from cloud.devices.hello_limits import HelloLimits, HelloRefusedError, forget_idle_boxes
from cloud.devices.models import PendingBox, PendingBoxCheck
from protocol.codec import encode
from protocol.provisioning import ClaimCode, hello_topic
from tests.cloud.auth_world import NOW, World
from tests.cloud.devices.helpers import checks_of, hello_of, new_box

WEEK = timedelta(days=7)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _control(engine: Engine, clock: Clock, limits: HelloLimits | None = None) -> DeviceControl:
    """A control that is never started: hellos are handed to it as paho would queue them."""
    return DeviceControl(
        engine,
        admin=OpenBrokerAdmin(),
        endpoint=ControlEndpoint("127.0.0.1", 1),
        clock=clock,
        hello_limits=limits or HelloLimits(),
    )


def _forged_hello(control: DeviceControl, at: datetime) -> None:
    code = ClaimCode.generate()  # a new made-up serial each time
    control.handle_hello(hello_topic(code.serial), encode(hello_of(code, at)))


def _pending_count(engine: Engine) -> int:
    with Session(engine) as session:
        count: int = session.exec(select(func.count()).select_from(PendingBox)).one()
    return count


def test_2000_forged_hellos_at_once_store_one_minutes_worth(engine: Engine) -> None:
    clock = Clock(NOW)
    control = _control(engine, clock)

    for _ in range(2000):
        _forged_hello(control, NOW)

    assert _pending_count(engine) == 60
    assert control.stats.refused_hellos == 1940
    assert control.stats.errors == 0


def test_forged_hellos_spread_over_time_stop_at_the_cap(engine: Engine) -> None:
    clock = Clock(NOW)
    control = _control(engine, clock, HelloLimits(max_unclaimed=100))

    for n in range(400):
        clock.now = NOW + timedelta(seconds=2 * n)  # 30 a minute: under the rate cap
        _forged_hello(control, clock.now)

    assert _pending_count(engine) == 100
    assert control.stats.refused_hellos == 300
    with Session(engine) as session:
        listed = pending_boxes(session=session, now=clock.now, window=WEEK)
    assert len(listed) == 100


def test_a_box_already_waiting_is_heard_when_the_caps_are_full(engine: Engine) -> None:
    limits = HelloLimits(max_unclaimed=2)
    real = ClaimCode.generate()
    with Session(engine) as session:
        note_hello(session=session, hello=hello_of(real, NOW), now=NOW, limits=limits)
        note_hello(
            session=session, hello=hello_of(ClaimCode.generate(), NOW), now=NOW, limits=limits
        )
        with pytest.raises(HelloRefusedError, match="waiting to be claimed"):
            note_hello(
                session=session, hello=hello_of(ClaimCode.generate(), NOW), now=NOW, limits=limits
            )
        later = NOW + timedelta(minutes=1)
        note_hello(session=session, hello=hello_of(real, later), now=later, limits=limits)
        box = session.get(PendingBox, real.serial, populate_existing=True)
        assert box is not None
        assert box.last_seen_at.replace(tzinfo=NOW.tzinfo) == later


def test_a_box_repeating_its_hello_is_stored_once_per_10_s(engine: Engine) -> None:
    real = new_box(engine, NOW)

    def last_seen() -> datetime:
        with Session(engine) as session:
            check = session.get(PendingBoxCheck, (real.serial, real.check))
            assert check is not None
            return check.last_seen_at.replace(tzinfo=NOW.tzinfo)

    for seconds in (0, 5, 9):
        at = NOW + timedelta(seconds=seconds)
        with Session(engine) as session:
            note_hello(session=session, hello=hello_of(real, at), now=at)
        assert last_seen() == NOW
    at = NOW + timedelta(seconds=10)
    with Session(engine) as session:
        note_hello(session=session, hello=hello_of(real, at), now=at)
    assert last_seen() == at


def test_a_forgers_repeats_do_not_keep_the_real_boxs_hellos_out(engine: Engine) -> None:
    real = ClaimCode.generate()
    forged = ClaimCode(real.serial, ClaimCode.generate().secret)
    for seconds in range(0, 60, 3):
        at = NOW + timedelta(seconds=seconds)
        with Session(engine) as session:
            note_hello(session=session, hello=hello_of(forged, at), now=at)
            if seconds % 9 == 0:
                note_hello(session=session, hello=hello_of(real, at), now=at)

    assert checks_of(engine, real.serial) == {real.check, forged.check}


def test_idle_boxes_are_hidden_then_forgotten_and_come_back_at_their_next_hello(
    world: World,
) -> None:
    engine = world.engine
    idle = new_box(engine, NOW - timedelta(hours=25))
    fresh = new_box(engine, NOW - timedelta(hours=23))
    claimed = new_box(engine, NOW - timedelta(hours=25))
    with Session(engine) as session:  # claimed then, its device not online yet
        box = session.get(PendingBox, claimed.serial)
        assert box is not None
        box.claimed_at = NOW - timedelta(hours=25)
        session.add(box)
        session.commit()

    listed = world.client.get("/api/v1/devices/pending", headers=world.headers("tom")).json()
    assert [box["serial"] for box in listed["data"]] == [fresh.serial]

    control = _control(engine, Clock(NOW))
    control.tick()  # the first poll looks for idle boxes
    assert control.stats.boxes_forgotten == 1
    with Session(engine) as session:
        assert session.get(PendingBox, idle.serial) is None
        assert session.get(PendingBox, fresh.serial) is not None
        assert session.get(PendingBox, claimed.serial) is not None  # claimed: not idle's to drop
    assert checks_of(engine, idle.serial) == set()

    with Session(engine) as session:
        note_hello(session=session, hello=hello_of(idle, NOW), now=NOW)
    listed = world.client.get("/api/v1/devices/pending", headers=world.headers("tom")).json()
    assert {box["serial"] for box in listed["data"]} == {fresh.serial, idle.serial}


def test_a_box_locked_against_guessing_is_not_forgotten_before_its_lock_ends(
    engine: Engine,
) -> None:
    locked = new_box(engine, NOW - timedelta(hours=25))
    with Session(engine) as session:
        box = session.get(PendingBox, locked.serial)
        assert box is not None
        box.locked_until = NOW + timedelta(minutes=5)
        session.add(box)
        session.commit()
        assert forget_idle_boxes(session=session, now=NOW, idle=timedelta(hours=24)) == 0
        later = NOW + timedelta(minutes=5)
        assert forget_idle_boxes(session=session, now=later, idle=timedelta(hours=24)) == 1
