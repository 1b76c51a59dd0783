"""Limits on what hellos can store: a flood of forgeries stays bounded (issue 15, finding 9),
and a box whose code is claimed is heard whatever the flood."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func
from sqlalchemy.orm import ORMExecuteState
from sqlmodel import Session, select

from cloud.devices.broker_admin import OpenBrokerAdmin
from cloud.devices.control import ControlEndpoint, DeviceControl
from cloud.devices.hello import note_hello, pending_boxes
from cloud.devices.hello_limits import (
    ACTIVE,
    MAX_AWAITED,
    HelloLimits,
    HelloRefusedError,
    box_for_claim,
    forget_idle_boxes,
)
from cloud.devices.models import PendingBox, PendingBoxCheck
from protocol.codec import encode
from protocol.provisioning import ClaimCode, hello_topic
from tests.cloud.auth_world import NOW, VENUE_A, World
from tests.cloud.devices.helpers import (
    CLAIM,
    RecordingAdmin,
    checks_of,
    claim_body,
    hello_of,
    new_box,
    say_hello,
)

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


def test_forged_hellos_spread_over_time_stop_at_the_cap_silent_ones_making_room(
    engine: Engine,
) -> None:
    clock = Clock(NOW)
    control = _control(engine, clock, HelloLimits(max_unclaimed=100))

    for n in range(400):
        clock.now = NOW + timedelta(seconds=2 * n)  # 30 a minute: under the rate cap
        _forged_hello(control, clock.now)
        assert _pending_count(engine) <= 100

    assert _pending_count(engine) == 100
    # Full after 200 s; from 600 s on, each newcomer takes the place of a box silent for
    # ACTIVE (10 minutes), the longest silent first.
    assert control.stats.refused_hellos == 200
    with Session(engine) as session:
        listed = pending_boxes(session=session, now=clock.now, window=WEEK)
    assert len(listed) == 100
    assert min(box.first_seen_at.replace(tzinfo=NOW.tzinfo) for box in listed) == NOW + ACTIVE


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
        assert forget_idle_boxes(session=session, now=NOW) == 0
        later = NOW + timedelta(minutes=5)
        assert forget_idle_boxes(session=session, now=later) == 1


class Forger:
    """Holds the shared provisioning login: repeats its serials, and makes up new ones."""

    def __init__(self, control: DeviceControl, clock: Clock, *, knows: ClaimCode) -> None:
        self.control, self.clock = control, clock
        self.serials: list[ClaimCode] = []
        # It read the serial off the box (it is printed on it), not the secret.
        self.mimic = ClaimCode(knows.serial, ClaimCode.generate().secret)

    def turn(self, *, new: int) -> None:
        old = list(self.serials)
        for _ in range(new):
            code = ClaimCode.generate()
            self._hello(code)
            self.serials.append(code)
        for code in [*old, self.mimic]:
            self._hello(code)

    def _hello(self, code: ClaimCode) -> None:
        self.control.handle_hello(hello_topic(code.serial), encode(hello_of(code, self.clock.now)))


@pytest.mark.parametrize(
    "limits",
    [HelloLimits(max_unclaimed=20), HelloLimits(new_per_minute=5)],
    ids=["table-full", "minute-busy"],
)
def test_a_box_being_claimed_is_heard_whatever_a_forger_does(
    world: World, admin: RecordingAdmin, limits: HelloLimits
) -> None:
    engine, clock = world.engine, Clock(NOW)
    control = _control(engine, clock, limits)
    real = ClaimCode.generate()
    forger = Forger(control, clock, knows=real)

    def five_seconds_pass(*, new: int = 5) -> None:
        clock.now += timedelta(seconds=5)
        world.clock[0] = clock.now
        # Every made-up serial again, and new ones: the caps stay full.
        forger.turn(new=new)
        control.handle_hello(hello_topic(real.serial), encode(hello_of(real, clock.now)))
        assert _pending_count(engine) <= limits.max_unclaimed + 1  # + the serial awaited

    five_seconds_pass(new=min(limits.max_unclaimed, limits.new_per_minute))
    for _ in range(24):  # two minutes of it: the real box is kept out
        five_seconds_pass()
    with Session(engine) as session:
        assert session.get(PendingBox, real.serial) is None

    body = claim_body(real, VENUE_A)
    refused = world.client.post(CLAIM, json=body, headers=world.headers("tom"))
    assert refused.status_code == 404, refused.text
    assert refused.json()["error"]["code"] == "box_not_seen"
    five_seconds_pass()  # one hello of the box
    claimed = world.client.post(CLAIM, json=body, headers=world.headers("tom"))

    assert claimed.status_code == 201, claimed.text
    assert admin.calls == [("add", claimed.json()["id"])]
    assert control.stats.errors == 0


def test_only_a_box_that_stopped_saying_hello_makes_room(engine: Engine) -> None:
    limits = HelloLimits(max_unclaimed=4)
    silent, talking, locked = (new_box(engine, NOW) for _ in range(3))
    awaited = ClaimCode.generate()
    later = NOW + ACTIVE
    with Session(engine) as session:
        box_for_claim(session=session, serial=awaited.serial, now=NOW)
        box = session.get(PendingBox, locked.serial)
        assert box is not None
        box.locked_until = later + timedelta(minutes=5)
        session.add(box)
        session.commit()
        note_hello(session=session, hello=hello_of(talking, later), now=later, limits=limits)

        newcomer = ClaimCode.generate()
        note_hello(session=session, hello=hello_of(newcomer, later), now=later, limits=limits)
        with pytest.raises(HelloRefusedError, match="all heard in the last 10 minutes"):
            note_hello(
                session=session,
                hello=hello_of(ClaimCode.generate(), later),
                now=later,
                limits=limits,
            )
        kept = set(session.exec(select(PendingBox.serial)))

    assert kept == {talking.serial, locked.serial, awaited.serial, newcomer.serial}
    assert checks_of(engine, silent.serial) == set()


def test_an_awaited_serial_is_unlisted_until_its_first_hello_which_dates_it(
    world: World,
) -> None:
    engine, code = world.engine, ClaimCode.generate()
    refused = world.client.post(CLAIM, json=claim_body(code, VENUE_A), headers=world.headers("tom"))
    assert refused.json()["error"]["code"] == "box_not_seen"
    with Session(engine) as session:
        assert session.get(PendingBox, code.serial) is not None

    def listed() -> list[dict[str, Any]]:
        body = world.client.get("/api/v1/devices/pending", headers=world.headers("tom")).json()
        return list(body["data"])

    assert listed() == []
    heard = NOW + timedelta(minutes=3)
    say_hello(engine, code, heard)
    world.clock[0] = heard
    [box] = listed()
    assert (box["serial"], box["first_seen_at"]) == (code.serial, heard.isoformat())


def test_awaited_serials_are_bounded_the_longest_awaited_going_first(engine: Engine) -> None:
    serials = [ClaimCode.generate().serial for _ in range(MAX_AWAITED + 1)]
    with Session(engine) as session:
        for n, serial in enumerate(serials):
            at = NOW + timedelta(seconds=n)
            assert box_for_claim(session=session, serial=serial, now=at) is None
        kept = set(session.exec(select(PendingBox.serial)))
    assert kept == set(serials[1:])


def test_an_awaited_serial_is_forgotten_after_a_day_like_any_unheard_box(engine: Engine) -> None:
    with Session(engine) as session:
        box_for_claim(session=session, serial=ClaimCode.generate().serial, now=NOW)
        assert forget_idle_boxes(session=session, now=NOW + timedelta(hours=23)) == 0
        assert forget_idle_boxes(session=session, now=NOW + timedelta(hours=24)) == 1


def test_a_box_heard_while_it_is_being_forgotten_is_kept(engine: Engine) -> None:
    code = new_box(engine, NOW - timedelta(hours=25))
    forged = ClaimCode(code.serial, ClaimCode.generate().secret)

    def hello_meanwhile(state: ORMExecuteState) -> None:
        # Between the forgetting's SELECT of idle boxes and its DELETE: another replica
        # stores a hello for one of them.
        if state.is_delete and not heard:
            heard.append(True)
            say_hello(engine, forged, NOW)

    heard: list[bool] = []
    with Session(engine) as session:
        event.listen(session, "do_orm_execute", hello_meanwhile)
        assert forget_idle_boxes(session=session, now=NOW) == 0
    assert heard
    assert checks_of(engine, code.serial) == {code.check, forged.check}
