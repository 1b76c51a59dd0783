"""DoorHardware on gpiozero mock pins, with the simulated door playing the lock and contact."""

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from edge.access.reasons import SIGNALS, Reason
from edge.door.signals import Step, signal_steps
from edge.hardware.door import DoorHardware, DoorHardwareError, DoorPins
from edge.hardware.door_safety import PowerLoss
from firmware_sim.door import SimDoor
from tests.helpers import wait_for

from .fakes import PINS, FakeTime, GatedSleeper


def _relay_level(factory: MockFactory) -> bool:
    return bool(factory.pin(PINS.relay).state)


def _build(
    factory: MockFactory, fake_time: FakeTime, pins: DoorPins = PINS, **options: Any
) -> DoorHardware:
    return DoorHardware(pins, clock=fake_time, scheduler=fake_time, pin_factory=factory, **options)


# -- relay ----------------------------------------------------------------------------


def test_starts_locked_and_door_closed(door: DoorHardware, sim: SimDoor) -> None:
    assert not door.unlocked
    assert not sim.relay_unlocked
    assert not door.door_open


def test_a_pulse_unlocks_then_relocks(
    door: DoorHardware, sim: SimDoor, fake_time: FakeTime
) -> None:
    door.unlock_for(5)
    assert door.unlocked
    assert sim.relay_unlocked

    fake_time.advance(4.9)
    assert sim.relay_unlocked

    fake_time.advance(0.2)
    assert not sim.relay_unlocked
    assert door.unlocked_until is None


def test_a_second_pulse_extends_without_a_relock_in_between(
    door: DoorHardware, sim: SimDoor, fake_time: FakeTime, pin_factory: MockFactory
) -> None:
    relay = pin_factory.pin(PINS.relay)
    relay.clear_states()
    door.unlock_for(5)
    fake_time.advance(3)
    door.unlock_for(5)

    fake_time.advance(4)  # 7 s after the first pulse
    assert sim.relay_unlocked

    fake_time.advance(1.1)
    assert not sim.relay_unlocked
    assert [s.state for s in relay.states] == [False, True, False]


def test_a_shorter_pulse_does_not_cut_a_longer_one_short(
    door: DoorHardware, sim: SimDoor, fake_time: FakeTime
) -> None:
    door.unlock_for(10)
    door.unlock_for(1)

    fake_time.advance(2)
    assert sim.relay_unlocked
    assert fake_time.pending == 1


@pytest.mark.parametrize("seconds", [0, -1, float("nan")])
def test_a_pulse_must_have_a_positive_length(door: DoorHardware, seconds: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        door.unlock_for(seconds)


@pytest.mark.parametrize(
    ("power_loss", "active_high", "locked_level", "unlocked_level"),
    [
        # power-to-unlock strike: energise to open
        ("fail_secure", True, False, True),
        ("fail_secure", False, True, False),
        # power-to-lock maglock: energise to hold, release to open
        ("fail_safe", True, True, False),
        ("fail_safe", False, False, True),
    ],
)
def test_relay_pin_levels_for_each_lock_type(
    pin_factory: MockFactory,
    fake_time: FakeTime,
    power_loss: PowerLoss,
    active_high: bool,
    locked_level: bool,
    unlocked_level: bool,
) -> None:
    pins = dataclasses.replace(PINS, power_loss=power_loss, relay_active_high=active_high)
    sim = SimDoor(pin_factory, pins)
    with _build(pin_factory, fake_time, pins) as door:
        assert _relay_level(pin_factory) is locked_level
        assert not sim.relay_unlocked

        door.unlock_for(3)
        assert _relay_level(pin_factory) is unlocked_level
        assert sim.relay_unlocked


@pytest.mark.parametrize(("power_loss", "opens"), [("fail_safe", True), ("fail_secure", False)])
def test_power_loss_leaves_the_lock_to_its_physics(
    pin_factory: MockFactory, fake_time: FakeTime, power_loss: PowerLoss, opens: bool
) -> None:
    pins = dataclasses.replace(PINS, power_loss=power_loss)
    sim = SimDoor(pin_factory, pins)
    with _build(pin_factory, fake_time, pins):
        sim.power_cut()
        assert sim.relay_unlocked is opens
        assert sim.open_door() is opens

        sim.power_restore()
        sim.close_door()
        assert not sim.relay_unlocked


@pytest.mark.parametrize(("power_loss", "opens"), [("fail_safe", True), ("fail_secure", False)])
def test_close_releases_the_relay_like_a_power_cut(
    pin_factory: MockFactory, fake_time: FakeTime, power_loss: PowerLoss, opens: bool
) -> None:
    pins = dataclasses.replace(PINS, power_loss=power_loss)
    sim = SimDoor(pin_factory, pins)
    door = _build(pin_factory, fake_time, pins)
    door.unlock_for(5)

    door.close()

    assert sim.relay_unlocked is opens
    fake_time.advance(10)  # a stale relock timer is harmless
    with pytest.raises(DoorHardwareError, match="closed"):
        door.unlock_for(1)


# -- exit button and fire alarm -------------------------------------------------------


def test_exit_button_unlocks_and_tells_the_agent(
    door: DoorHardware, sim: SimDoor, fake_time: FakeTime
) -> None:
    pressed: list[bool] = []
    door.on_exit_button = lambda: pressed.append(True)

    sim.press_exit()

    assert pressed == [True]
    assert sim.relay_unlocked
    fake_time.advance(5.1)
    assert not sim.relay_unlocked


def test_exit_button_can_be_left_to_the_agent(
    pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor
) -> None:
    with _build(pin_factory, fake_time, exit_unlock_s=None) as door:
        pressed: list[bool] = []
        door.on_exit_button = lambda: pressed.append(True)
        sim.press_exit()

        assert pressed == [True]
        assert not sim.relay_unlocked


def test_a_failing_callback_does_not_break_the_door(
    door: DoorHardware, sim: SimDoor, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> None:
        raise RuntimeError("agent bug")

    door.on_exit_button = broken
    sim.press_exit()

    assert sim.relay_unlocked
    assert "door callback failed" in caplog.text


def test_fire_alarm_holds_the_door_unlocked_until_it_clears(
    door: DoorHardware, sim: SimDoor, fake_time: FakeTime
) -> None:
    seen: list[bool] = []
    door.on_fire_alarm = seen.append
    door.unlock_for(2)

    sim.fire_alarm(on=True)
    fake_time.advance(60)  # the pulse ends; the alarm still holds
    door.release()  # nor can a command relock during the alarm

    assert sim.relay_unlocked
    assert door.emergency
    assert sim.led == "amber"

    sim.fire_alarm(on=False)

    assert not sim.relay_unlocked
    assert not door.emergency
    assert seen == [True, False]
    wait_for(lambda: sim.led == "off", timeout=5, message="emergency colour cleared")


def test_fire_alarm_active_at_start_up_unlocks_at_once(
    pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor
) -> None:
    sim.fire_alarm(on=True)
    with _build(pin_factory, fake_time) as door:
        assert door.fire_alarm_active
        assert sim.relay_unlocked


def test_a_normally_open_fire_contact_alarms_when_it_closes(
    pin_factory: MockFactory, fake_time: FakeTime
) -> None:
    pins = dataclasses.replace(PINS, fire_alarm_normally_closed=False)
    sim = SimDoor(pin_factory, pins)
    with _build(pin_factory, fake_time, pins) as door:
        assert not door.fire_alarm_active
        assert bool(pin_factory.pin(PINS.fire_alarm).state)  # open contact, pulled up

        sim.fire_alarm(on=True)

        assert not pin_factory.pin(PINS.fire_alarm).state
        assert sim.relay_unlocked


def test_without_a_fire_input_the_door_still_works(
    pin_factory: MockFactory, fake_time: FakeTime
) -> None:
    pins = dataclasses.replace(PINS, fire_alarm=None)
    sim = SimDoor(pin_factory, pins)
    with _build(pin_factory, fake_time, pins) as door:
        door.unlock_for(1)
        assert sim.relay_unlocked
        assert not door.fire_alarm_active


def test_hold_and_release(door: DoorHardware, sim: SimDoor, fake_time: FakeTime) -> None:
    door.hold_unlocked(Reason.REMOTE_UNLOCK)
    fake_time.advance(3600)
    assert sim.relay_unlocked
    assert sim.led == "green"

    door.release()

    assert not sim.relay_unlocked
    assert sim.led == "off"


def test_a_pulse_outlives_a_release(door: DoorHardware, sim: SimDoor, fake_time: FakeTime) -> None:
    door.hold_unlocked(Reason.EMERGENCY)
    door.unlock_for(5)
    door.release()
    assert sim.relay_unlocked

    fake_time.advance(5)
    assert not sim.relay_unlocked


def test_only_an_opening_reason_can_hold_the_door(door: DoorHardware) -> None:
    with pytest.raises(ValueError, match="does not open"):
        door.hold_unlocked(Reason.REVOKED)


# -- LEDs and buzzer ------------------------------------------------------------------


@pytest.fixture
def gated(
    pin_factory: MockFactory, fake_time: FakeTime
) -> Iterator[tuple[DoorHardware, GatedSleeper]]:
    sim = SimDoor(pin_factory, PINS)
    sleeper = GatedSleeper(lambda: (sim.led, sim.buzzing))
    door = _build(pin_factory, fake_time, sleeper=sleeper, show_s=2.0)
    yield door, sleeper
    sleeper.open()
    door.close()


@pytest.mark.parametrize("reason", list(Reason))
def test_each_reason_shows_its_colour_at_once_and_plays_its_pattern(
    gated: tuple[DoorHardware, GatedSleeper], reason: Reason
) -> None:
    door, sleeper = gated
    expected = SIGNALS[reason]

    door.signal(reason)  # returns while the player waits on the gate

    first = signal_steps(expected, show_s=2.0)[0]
    sleeper.open()
    wait_for(lambda: not door.signalling, timeout=5, message="signal finished")
    assert sleeper.shown[0] == (first.led, first.buzzer, first.seconds)
    assert sleeper.shown == [
        (step.led, step.buzzer, step.seconds) for step in signal_steps(expected, show_s=2.0)
    ]
    assert door.state().unlocked is False  # a signal never touches the lock


def test_a_signal_returns_before_the_pattern_plays(
    gated: tuple[DoorHardware, GatedSleeper], pin_factory: MockFactory
) -> None:
    door, _sleeper = gated

    door.signal(Reason.REVOKED)

    assert pin_factory.pin(PINS.red_led).state
    assert not pin_factory.pin(PINS.green_led).state
    assert pin_factory.pin(PINS.buzzer).state
    assert door.signalling
    door.unlock_for(5)  # the relay does not wait for the beeps
    assert door.unlocked


def test_the_pattern_plays_in_real_time_and_ends_dark(
    door: DoorHardware, pin_factory: MockFactory
) -> None:
    buzzer = pin_factory.pin(PINS.buzzer)
    buzzer.clear_states()

    door.signal(Reason.MALFORMED)  # 0.1 on, 0.1 off, 0.1 on

    wait_for(lambda: not door.signalling, timeout=5, message="signal finished")
    assert [s.state for s in buzzer.states] == [False, True, False, True, False]
    assert not pin_factory.pin(PINS.red_led).state


def test_a_new_signal_cuts_the_playing_one_short(
    pin_factory: MockFactory, fake_time: FakeTime, sim: SimDoor
) -> None:
    with _build(pin_factory, fake_time, show_s=30.0) as door:
        door.signal(Reason.REVOKED)
        door.signal(Reason.ACCEPTED)

        assert sim.led == "green"
        wait_for(lambda: not sim.buzzing, timeout=5, message="chirp ended")
        assert sim.led == "green"  # still showing the newer outcome, not the old red


def test_signal_steps_fill_up_to_the_show_time() -> None:
    assert signal_steps(SIGNALS[Reason.ACCEPTED], show_s=2.0) == (
        Step("green", True, 0.1),
        Step("green", False, 1.9),
    )
    emergency = signal_steps(SIGNALS[Reason.EMERGENCY], show_s=1.0)
    assert emergency == (Step("amber", True, 1.0), Step("amber", False, 0.5))


# -- configuration and pin errors -------------------------------------------------------


def test_a_pin_used_twice_in_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match=r"buzzer and relay are both set to GPIO5"):
        dataclasses.replace(PINS, buzzer=PINS.relay)


def test_an_unknown_power_loss_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="fail_safe"):
        dataclasses.replace(PINS, power_loss="fail_open")  # type: ignore[arg-type]


def test_a_bad_pin_names_the_role_and_what_to_check(
    pin_factory: MockFactory, fake_time: FakeTime
) -> None:
    pins = dataclasses.replace(PINS, door_contact=99)

    with pytest.raises(DoorHardwareError, match=r"door_contact on GPIO99.*BCM") as caught:
        _build(pin_factory, fake_time, pins)

    assert caught.value.__cause__ is not None
    # What was opened before the failure was released again.
    _build(pin_factory, fake_time).close()


def test_a_pin_in_use_names_the_role_and_what_to_check(
    pin_factory: MockFactory, fake_time: FakeTime
) -> None:
    other = DigitalInputDevice(PINS.exit_button, pin_factory=pin_factory)
    try:
        with pytest.raises(DoorHardwareError, match=r"exit_button on GPIO20.*already uses"):
            _build(pin_factory, fake_time)
    finally:
        other.close()


def test_the_default_scheduler_relocks_on_its_own_thread(
    pin_factory: MockFactory, sim: SimDoor
) -> None:
    with DoorHardware(PINS, clock=FakeTime(), pin_factory=pin_factory) as door:
        door.unlock_for(0.05)
        assert sim.relay_unlocked

        wait_for(lambda: not sim.relay_unlocked, timeout=5, message="relocked by its timer")
        assert not door.unlocked
