"""Forged hellos: anyone with the provisioning account can say hello for any serial."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.devices.hello import MAX_CHECKS, note_hello
from cloud.devices.models import PendingBox
from protocol.provisioning import ClaimCode, SealedBundle
from tests.cloud.auth_world import NOW, VENUE_A, World
from tests.cloud.devices.helpers import (
    RecordingAdmin,
    checks_of,
    claim_body,
    hello_of,
    new_box,
    say_hello,
)


def forge(engine: Engine, real: ClaimCode, now: datetime) -> ClaimCode:
    """A hello for ``real``'s serial with a check of a secret nobody's label carries."""
    forged = ClaimCode(real.serial, ClaimCode.generate().secret)
    say_hello(engine, forged, now)
    return forged


def claim_status(world: World, code: ClaimCode) -> int:
    response = world.client.post(
        "/api/v1/devices/claim", json=claim_body(code, VENUE_A), headers=world.headers("tom")
    )
    status: int = response.status_code
    return status


def hello_answer(engine: Engine, code: ClaimCode, now: datetime) -> SealedBundle | None:
    with Session(engine) as session:
        return note_hello(session=session, hello=hello_of(code, now), now=now)


def test_forged_hellos_before_and_after_do_not_make_the_label_wrong(
    world: World, admin: RecordingAdmin
) -> None:
    real = ClaimCode.generate()
    before = forge(world.engine, real, NOW - timedelta(minutes=2))
    say_hello(world.engine, real, NOW - timedelta(minutes=1))
    after = forge(world.engine, real, NOW)

    assert checks_of(world.engine, real.serial) == {before.check, real.check, after.check}
    assert claim_status(world, real) == 201
    # Claimed: the box is known, the other checks are dropped.
    assert checks_of(world.engine, real.serial) == {real.check}


def test_a_forged_check_does_not_prolong_the_real_labels_window(
    world: World, admin: RecordingAdmin
) -> None:
    real = new_box(world.engine, NOW - timedelta(days=8))
    forge(world.engine, real, NOW)  # fresh, but not this label's
    say_hello(world.engine, real, NOW)  # the real box is still saying hello

    assert claim_status(world, real) == 410


def test_an_old_forged_check_does_not_shorten_it_either(
    world: World, admin: RecordingAdmin
) -> None:
    real = ClaimCode.generate()
    forge(world.engine, real, NOW - timedelta(days=8))
    say_hello(world.engine, real, NOW)

    assert claim_status(world, real) == 201


def test_100_forged_checks_cannot_push_the_real_box_out(
    world: World, admin: RecordingAdmin
) -> None:
    real = new_box(world.engine, NOW - timedelta(minutes=5))
    for n in range(100):
        at = NOW - timedelta(minutes=4) + timedelta(seconds=n)
        forge(world.engine, real, at)
        if n % 5 == 0:  # the real box repeats its hello every few seconds
            say_hello(world.engine, real, at)
        assert len(checks_of(world.engine, real.serial)) <= MAX_CHECKS
    # A burst between two of its hellos, longer than the list, pushes it out neither.
    for n in range(3 * MAX_CHECKS):
        forge(world.engine, real, NOW - timedelta(seconds=30) + timedelta(milliseconds=n))

    checks = checks_of(world.engine, real.serial)
    assert len(checks) == MAX_CHECKS
    assert real.check in checks
    assert claim_status(world, real) == 201


def test_a_check_no_longer_heard_makes_room_first(world: World) -> None:
    old = new_box(world.engine, NOW - timedelta(hours=2))  # the label before a renewal
    renewed = ClaimCode(old.serial, ClaimCode.generate().secret)
    say_hello(world.engine, renewed, NOW - timedelta(minutes=2))
    for n in range(MAX_CHECKS - 1):
        forge(world.engine, old, NOW - timedelta(minutes=1) + timedelta(seconds=n))

    checks = checks_of(world.engine, old.serial)
    assert len(checks) == MAX_CHECKS
    assert old.check not in checks  # quiet for two hours: the first to go
    assert renewed.check in checks


def test_a_claimed_box_answers_only_its_own_label(world: World, admin: RecordingAdmin) -> None:
    real = new_box(world.engine, NOW)
    assert claim_status(world, real) == 201
    forged = ClaimCode(real.serial, ClaimCode.generate().secret)

    assert hello_answer(world.engine, forged, NOW) is None
    assert checks_of(world.engine, real.serial) == {real.check}
    assert hello_answer(world.engine, real, NOW) is not None


def test_a_forged_hello_does_not_lift_a_lock(world: World, admin: RecordingAdmin) -> None:
    real = new_box(world.engine, NOW)
    wrong = ClaimCode(real.serial, "b" * 20)
    for _ in range(5):
        assert claim_status(world, wrong) == 403

    forge(world.engine, real, NOW)  # a new check no longer starts afresh

    assert claim_status(world, real) == 429


def test_decommissioning_forgets_the_boxs_checks(world: World, admin: RecordingAdmin) -> None:
    real = new_box(world.engine, NOW - timedelta(days=7) + timedelta(minutes=10))
    assert claim_status(world, real) == 201
    device = f"{VENUE_A}-door-1"
    world.client.post(f"/api/v1/devices/{device}/decommission", headers=world.headers("tom"))

    assert checks_of(world.engine, real.serial) == set()
    with Session(world.engine) as session:
        assert session.get(PendingBox, real.serial) is None
    later = NOW + timedelta(minutes=20)  # the first hello's window is over
    world.clock[0] = later
    say_hello(world.engine, real, later)  # the wiped box: its window starts anew
    assert claim_status(world, real) == 201
