"""The door lock's safety rules on plain calls: no pins, no threads, no sleeping."""

from datetime import UTC, datetime, timedelta

import pytest

from edge.access.reasons import OPENS, Reason
from edge.hardware.door_safety import (
    DoorSafety,
    LockCause,
    LockOutput,
    PowerLoss,
    Relock,
    relay_energised,
)

T0 = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
LOCKED = LockOutput(
    unlocked=False, emergency=False, cause=LockCause.LOCKED, relay_energised=False, rest=None
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_starts_locked() -> None:
    assert DoorSafety().output() == LOCKED


@pytest.mark.parametrize(
    ("power_loss", "unlocked", "energised"),
    [
        ("fail_secure", False, False),  # strike: unpowered is locked
        ("fail_secure", True, True),
        ("fail_safe", False, True),  # maglock: powered to hold the door
        ("fail_safe", True, False),
    ],
)
def test_power_loss_decides_which_relay_level_locks(
    power_loss: PowerLoss, unlocked: bool, energised: bool
) -> None:
    assert relay_energised(power_loss, unlocked=unlocked) is energised
    safety = DoorSafety(power_loss=power_loss)
    if unlocked:
        safety.unlock_for(3, now=T0)
    assert safety.output().relay_energised is energised


def test_a_pulse_unlocks_until_its_relock_reports_back() -> None:
    safety = DoorSafety()
    relock = safety.unlock_for(3, now=T0)
    assert relock == Relock(delay_s=3, generation=1)
    assert safety.output().cause is LockCause.PULSE
    assert safety.output().unlocked
    assert safety.pulse_until == at(3)
    assert safety.pulse_ended(relock.generation)
    assert safety.output() == LOCKED
    assert safety.pulse_until is None


def test_a_longer_pulse_extends_and_makes_the_first_relock_stale() -> None:
    safety = DoorSafety()
    first = safety.unlock_for(3, now=T0)
    second = safety.unlock_for(3, now=at(2))
    assert first is not None
    assert second is not None
    assert second.generation > first.generation
    assert safety.pulse_until == at(5)
    assert not safety.pulse_ended(first.generation)  # stale: changes nothing
    assert safety.output().unlocked
    assert safety.pulse_ended(second.generation)
    assert not safety.output().unlocked


def test_a_shorter_pulse_changes_nothing() -> None:
    safety = DoorSafety()
    safety.unlock_for(10, now=T0)
    assert safety.unlock_for(2, now=at(1)) is None
    assert safety.pulse_until == at(10)


def test_a_relock_ends_the_pulse_even_if_the_clock_stepped_back() -> None:
    # The generation decides, never the clock: a clock step cannot leave the door open.
    safety = DoorSafety()
    relock = safety.unlock_for(3, now=at(3600))
    assert relock is not None
    assert safety.pulse_ended(relock.generation)
    assert not safety.output().unlocked


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
def test_a_pulse_must_have_a_positive_length(seconds: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        DoorSafety().unlock_for(seconds, now=T0)


def test_the_exit_button_unlocks_for_its_release_time() -> None:
    safety = DoorSafety(exit_unlock_s=5)
    assert safety.exit_pressed(now=T0) == Relock(delay_s=5, generation=1)
    assert safety.pulse_until == at(5)


def test_the_exit_button_can_be_left_to_the_agent() -> None:
    safety = DoorSafety(exit_unlock_s=None)
    assert safety.exit_pressed(now=T0) is None
    assert safety.output() == LOCKED


def test_the_fire_alarm_holds_the_lock_open_until_it_clears() -> None:
    safety = DoorSafety()
    assert safety.fire_alarm(active=True)
    assert safety.output() == LockOutput(
        unlocked=True,
        emergency=True,
        cause=LockCause.FIRE_ALARM,
        relay_energised=True,
        rest=Reason.EMERGENCY,
    )
    assert not safety.fire_alarm(active=True)  # a bounce is not a change
    assert safety.fire_alarm(active=False)
    assert safety.output() == LOCKED


def test_a_fire_alarm_at_start_up_unlocks_at_once() -> None:
    safety = DoorSafety(fire_alarm=True)
    assert safety.fire_alarm_active
    assert safety.output().cause is LockCause.FIRE_ALARM


def test_neither_a_relock_nor_a_release_ends_a_fire_alarm() -> None:
    safety = DoorSafety()
    relock = safety.unlock_for(3, now=T0)
    safety.fire_alarm(active=True)
    assert relock is not None
    assert safety.pulse_ended(relock.generation)
    safety.hold(Reason.REMOTE_UNLOCK)
    safety.release()
    assert safety.output().cause is LockCause.FIRE_ALARM
    assert safety.output().unlocked


def test_a_hold_keeps_the_lock_open_and_its_colour_lit_until_release() -> None:
    safety = DoorSafety()
    safety.hold(Reason.REMOTE_UNLOCK)
    out = safety.output()
    assert (out.unlocked, out.emergency, out.cause, out.rest) == (
        True,
        False,
        LockCause.HELD,
        Reason.REMOTE_UNLOCK,
    )
    safety.release()
    assert safety.output() == LOCKED


def test_an_emergency_hold_is_an_emergency() -> None:
    safety = DoorSafety()
    safety.hold(Reason.EMERGENCY)
    out = safety.output()
    assert (out.emergency, out.cause, out.rest) == (True, LockCause.EMERGENCY, Reason.EMERGENCY)


def test_a_pulse_outlives_a_release() -> None:
    safety = DoorSafety()
    safety.hold(Reason.REMOTE_UNLOCK)
    relock = safety.unlock_for(3, now=T0)
    safety.release()
    assert safety.output().cause is LockCause.PULSE
    assert relock is not None
    assert safety.pulse_ended(relock.generation)
    assert safety.output() == LOCKED


def test_only_an_opening_reason_can_hold_the_door() -> None:
    closing = next(reason for reason in Reason if reason not in OPENS)
    with pytest.raises(ValueError, match="does not open"):
        DoorSafety().hold(closing)


def test_stop_makes_every_scheduled_relock_stale() -> None:
    safety = DoorSafety()
    relock = safety.unlock_for(3, now=T0)
    safety.stop()
    assert relock is not None
    assert not safety.pulse_ended(relock.generation)
