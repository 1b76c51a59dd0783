"""SimDoor: the simulated door drives the pins the real door drivers read, and reads theirs."""

import dataclasses
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from edge.access.reasons import Reason
from edge.door.monitor import DoorMonitor
from edge.hardware.counter import BeamCounter
from edge.hardware.door import DoorHardware
from edge.hardware.door_safety import PowerLoss
from edge.hardware.interfaces import Crossings
from firmware_sim.beams import BeamPair
from firmware_sim.door import DoorGait, SimDoor
from tests.edge.door.fakes import PINS, FakeTime

OUTSIDE_PIN = 17
INSIDE_PIN = 27


@pytest.fixture
def pin_factory() -> Iterator[MockFactory]:
    factory = MockFactory()
    yield factory
    factory.close()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def door(pin_factory: MockFactory, fake_time: FakeTime) -> Iterator[DoorHardware]:
    # Built before the SimDoor: the other order is what tests/edge/door does.
    hardware = DoorHardware(
        PINS, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory, show_s=0.05
    )
    yield hardware
    hardware.close()


@pytest.fixture
def counter(pin_factory: MockFactory) -> Iterator[BeamCounter]:
    counter = BeamCounter(OUTSIDE_PIN, INSIDE_PIN, pin_factory=pin_factory)
    yield counter
    counter.close()


@pytest.fixture
def sim(pin_factory: MockFactory, door: DoorHardware, counter: BeamCounter) -> SimDoor:
    return SimDoor(pin_factory, PINS, beams=BeamPair(pin_factory, OUTSIDE_PIN, INSIDE_PIN))


def test_the_door_starts_shut_and_locked(sim: SimDoor, door: DoorHardware) -> None:
    assert not sim.door_open
    assert not door.door_open
    assert not sim.relay_unlocked
    assert sim.led == "off"
    assert not sim.buzzing


def test_a_locked_door_turns_people_away(
    sim: SimDoor, door: DoorHardware, counter: BeamCounter
) -> None:
    assert not sim.person_walks_through("in")

    assert not door.door_open
    assert counter.take() == Crossings(entered=0, left=0)


def test_people_walk_through_an_unlocked_door_and_cross_the_beams(
    sim: SimDoor, door: DoorHardware, counter: BeamCounter, fake_time: FakeTime
) -> None:
    monitor = DoorMonitor().attach(door)
    door.unlock_for(5)

    assert sim.person_walks_through("in")
    assert sim.person_walks_through("in")

    assert not sim.door_open
    assert counter.take() == Crossings(entered=2, left=0)
    assert [e.kind for e in monitor.tick(fake_time())] == ["door.opened", "door.closed"] * 2


def test_leaving_takes_the_exit_button(sim: SimDoor, counter: BeamCounter) -> None:
    assert not sim.person_walks_through("out")

    sim.press_exit()

    assert sim.person_walks_through("out")
    assert counter.take() == Crossings(entered=0, left=1)


def test_a_walk_can_take_its_time(sim: SimDoor, door: DoorHardware) -> None:
    pauses: list[float] = []
    door.unlock_for(5)

    sim.person_walks_through("in", pause=pauses.append)

    gait = DoorGait()
    assert pauses[0] == gait.open_to_beams_s
    assert pauses[-1] == gait.beams_to_close_s
    assert len(pauses) == 5  # door, three beam gaps, door


def test_hold_open_needs_the_lock_and_force_open_does_not(sim: SimDoor, door: DoorHardware) -> None:
    assert not sim.hold_open()
    sim.force_open()
    assert door.door_open

    sim.close_door()
    assert not door.door_open


def test_fire_alarm_contact_follows_the_wiring(
    sim: SimDoor, door: DoorHardware, pin_factory: MockFactory
) -> None:
    fire = pin_factory.pin(PINS.fire_alarm)
    assert not fire.state  # normally closed contact, shorted to ground

    sim.fire_alarm(on=True)

    assert fire.state  # opened: the pull-up wins
    assert door.fire_alarm_active
    assert sim.relay_unlocked
    assert sim.led == "amber"


def test_a_door_without_a_fire_input_refuses_an_alarm(pin_factory: MockFactory) -> None:
    sim = SimDoor(pin_factory, dataclasses.replace(PINS, fire_alarm=None))

    sim.fire_alarm(on=False)
    with pytest.raises(RuntimeError, match="no fire-alarm input"):
        sim.fire_alarm(on=True)


@pytest.mark.parametrize(("power_loss", "opens"), [("fail_safe", True), ("fail_secure", False)])
def test_a_power_cut_goes_dark_and_the_lock_follows_its_type(
    pin_factory: MockFactory, fake_time: FakeTime, power_loss: PowerLoss, opens: bool
) -> None:
    pins = dataclasses.replace(PINS, power_loss=power_loss)
    with DoorHardware(pins, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory) as door:
        sim = SimDoor(pin_factory, pins)
        door.hold_unlocked(Reason.REMOTE_UNLOCK)
        assert sim.led == "green"

        sim.power_cut()

        assert sim.led == "off"
        assert sim.relay_unlocked is opens
        assert sim.person_walks_through("in") is opens
        assert not sim.door_open  # a cut never swings the door by itself


def test_inputs_created_by_the_simulator_keep_their_level_when_the_driver_opens_them(
    pin_factory: MockFactory, fake_time: FakeTime
) -> None:
    sim = SimDoor(pin_factory, PINS)  # before the driver: the pull-up must not "open" the door
    with DoorHardware(PINS, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory) as door:
        assert not door.door_open
        assert not door.fire_alarm_active
        sim.force_open()
        assert door.door_open
