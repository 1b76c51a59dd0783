"""DoorMonitor: door events from the simulated door through the real drivers, on a fake clock."""

from datetime import UTC, datetime, timedelta

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.access.reasons import Reason
from edge.door.monitor import (
    DoorClosed,
    DoorEvent,
    DoorForced,
    DoorHeldOpen,
    DoorHeldOpenCleared,
    DoorMonitor,
    DoorOpened,
    EmergencyOff,
    EmergencyOn,
)
from edge.hardware.door import DoorHardware, DoorState
from firmware_sim.door import SimDoor

from .fakes import PINS, FakeTime

HELD_S = 60.0


@pytest.fixture
def monitor(door: DoorHardware) -> DoorMonitor:
    return DoorMonitor(held_open_s=HELD_S).attach(door)


def _kinds(events: list[DoorEvent]) -> list[str]:
    return [event.kind for event in events]


def test_an_authorised_passage_opens_and_closes(
    door: DoorHardware, sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    t0 = fake_time()
    door.unlock_for(5)
    assert sim.person_walks_through("in")

    events = monitor.tick(fake_time())

    assert events == [DoorOpened(t0, "access"), DoorClosed(t0, 0.0)]
    assert monitor.tick(fake_time()) == []


def test_held_open_fires_once_after_the_limit_and_clears_on_close(
    door: DoorHardware, sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    t0 = fake_time()
    door.unlock_for(5)
    assert sim.hold_open()
    assert _kinds(monitor.tick(fake_time.advance(59))) == ["door.opened"]

    later = fake_time.advance(30)
    assert monitor.tick(later) == [DoorHeldOpen(t0 + timedelta(seconds=60), t0, HELD_S)]
    assert monitor.tick(fake_time.advance(600)) == []

    sim.close_door()
    closed = fake_time()
    assert monitor.tick(closed) == [
        DoorClosed(closed, 689.0),
        DoorHeldOpenCleared(closed, 689.0),
    ]


def test_held_open_is_reported_even_if_the_door_closes_before_the_next_tick(
    door: DoorHardware, sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    door.unlock_for(5)
    sim.hold_open()
    fake_time.advance(61)
    sim.close_door()

    assert _kinds(monitor.tick(fake_time())) == [
        "door.opened",
        "door.held_open",
        "door.closed",
        "door.held_open_cleared",
    ]


def test_a_door_opened_while_locked_is_forced(
    sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    assert not sim.open_door()  # a pull on a locked door does nothing
    sim.force_open()

    at = fake_time()
    assert monitor.tick(at) == [DoorOpened(at, "forced"), DoorForced(at)]


def test_a_forced_door_left_open_is_also_held_open(
    sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    sim.force_open()

    assert _kinds(monitor.tick(fake_time.advance(HELD_S))) == [
        "door.opened",
        "door.forced",
        "door.held_open",
    ]


def test_an_opening_just_after_relocking_is_not_forced(
    door: DoorHardware, sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    door.unlock_for(5)
    fake_time.advance(5.5)  # relocked half a second ago; the strike is still settling
    sim.force_open()

    assert _kinds(monitor.tick(fake_time())) == ["door.opened"]


def test_a_door_reopened_after_it_shut_and_relocked_is_forced(
    door: DoorHardware, sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    door.unlock_for(5)
    sim.person_walks_through("in")
    fake_time.advance(30)
    sim.force_open()

    assert _kinds(monitor.tick(fake_time())) == [
        "door.opened",
        "door.closed",
        "door.opened",
        "door.forced",
    ]


def test_the_exit_button_opening_is_not_forced(
    sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    sim.press_exit()
    assert sim.person_walks_through("out")

    assert [e for e in monitor.tick(fake_time()) if isinstance(e, DoorOpened)] == [
        DoorOpened(fake_time(), "exit_button")
    ]


def test_mechanical_egress_after_the_exit_button_is_not_forced(
    pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor
) -> None:
    # The agent, not the hardware, decides on exit presses here; the handle inside opens
    # the strike mechanically.
    with DoorHardware(
        PINS, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory, exit_unlock_s=None
    ) as door:
        monitor = DoorMonitor().attach(door)
        sim.press_exit()
        fake_time.advance(3)
        sim.force_open()

        assert _kinds(monitor.tick(fake_time())) == ["door.opened"]


def test_fire_alarm_is_an_emergency_and_suspends_held_open(
    sim: SimDoor, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    t0 = fake_time()
    sim.fire_alarm(on=True)
    sim.hold_open()  # everyone out
    assert monitor.tick(fake_time.advance(600)) == [
        EmergencyOn(t0, "fire_alarm"),
        DoorOpened(t0, "emergency"),
    ]

    sim.fire_alarm(on=False)
    off = fake_time()
    assert monitor.tick(off) == [EmergencyOff(off, "fire_alarm", 600.0)]

    # Still open after the all-clear: the held-open limit counts from then.
    assert monitor.tick(fake_time.advance(HELD_S - 1)) == []
    assert _kinds(monitor.tick(fake_time.advance(1))) == ["door.held_open"]


def test_a_commanded_emergency_is_reported_as_such(
    door: DoorHardware, monitor: DoorMonitor, fake_time: FakeTime
) -> None:
    t0 = fake_time()
    door.hold_unlocked(Reason.EMERGENCY)
    fake_time.advance(10)
    door.release()

    assert monitor.tick(fake_time()) == [
        EmergencyOn(t0, "command"),
        EmergencyOff(fake_time(), "command", 10.0),
    ]


def test_a_door_found_open_at_start_up_can_be_held_open(
    pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor
) -> None:
    sim.force_open()
    with DoorHardware(PINS, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory) as door:
        monitor = DoorMonitor(held_open_s=HELD_S).attach(door)
        assert door.door_open
        assert _kinds(monitor.tick(fake_time.advance(HELD_S))) == ["door.held_open"]


def test_an_emergency_at_start_up_is_reported(
    pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor
) -> None:
    sim.fire_alarm(on=True)
    with DoorHardware(PINS, clock=fake_time, scheduler=fake_time, pin_factory=pin_factory) as door:
        monitor = DoorMonitor().attach(door)
        assert monitor.tick(fake_time()) == [EmergencyOn(fake_time(), "fire_alarm")]


def test_events_carry_outbox_data() -> None:
    at = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
    assert DoorOpened(at, "forced").data() == {"cause": "forced"}
    assert DoorHeldOpen(at, at, 60.0).data() == {"opened_at": at.isoformat(), "limit_s": 60.0}
    assert EmergencyOff(at, "fire_alarm", 1.23456).data() == {
        "source": "fire_alarm",
        "on_s": 1.235,
    }


# -- the state machine on its own, under any order of inputs ---------------------------

_steps = st.lists(
    st.tuples(
        st.sampled_from(["open", "close", "lock", "unlock", "exit", "fire_on", "fire_off", "tick"]),
        st.floats(min_value=0, max_value=120, allow_nan=False),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(steps=_steps)
def test_openings_and_held_open_alerts_pair_up(steps: list[tuple[str, float]]) -> None:
    monitor = DoorMonitor(held_open_s=HELD_S)
    now = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
    monitor.started(DoorState(door_open=False, unlocked=False, emergency=False), now)
    events: list[DoorEvent] = []
    actions = {
        "open": lambda: monitor.door_changed(is_open=True, at=now),
        "close": lambda: monitor.door_changed(is_open=False, at=now),
        "lock": lambda: monitor.lock_changed(unlocked=False, at=now),
        "unlock": lambda: monitor.lock_changed(unlocked=True, at=now),
        "exit": lambda: monitor.exit_pressed(now),
        "fire_on": lambda: monitor.emergency_changed(active=True, source="fire_alarm", at=now),
        "fire_off": lambda: monitor.emergency_changed(active=False, source="fire_alarm", at=now),
        "tick": lambda: None,
    }
    for action, gap_s in steps:
        now += timedelta(seconds=gap_s)
        actions[action]()
        events += monitor.tick(now)

    door_kinds = [e.kind for e in events if e.kind.startswith("door.") and e.kind != "door.forced"]
    is_open, held = False, False
    for kind in door_kinds:
        if kind == "door.opened":
            assert not is_open
            is_open, held = True, False
        elif kind == "door.held_open":
            assert is_open
            assert not held
            held = True
        elif kind == "door.held_open_cleared":
            assert held
            assert not is_open  # cleared comes right after the close it belongs to
            held = False
        else:
            assert is_open
            is_open = False
    assert [e.at for e in events] == sorted(e.at for e in events)
    for forced in (e for e in events if isinstance(e, DoorForced)):
        assert DoorOpened(forced.at, "forced") in events


def test_monitor_rejects_a_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="positive"):
        DoorMonitor(held_open_s=0)
