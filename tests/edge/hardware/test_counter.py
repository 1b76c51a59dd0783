"""BeamCounter on gpiozero mock pins driven by the simulated beams."""

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given
from hypothesis import strategies as st

from edge.hardware.counter import Beam, BeamCounter, CrossingTracker
from edge.hardware.interfaces import Crossings, HardwareError
from firmware_sim.beams import BeamPair

from .conftest import INSIDE_PIN, OUTSIDE_PIN


@pytest.fixture
def counter(pin_factory: MockFactory) -> Iterator[BeamCounter]:
    counter = BeamCounter(OUTSIDE_PIN, INSIDE_PIN, pin_factory=pin_factory)
    yield counter
    counter.close()


def test_walks_in_and_out_are_counted_by_direction(counter: BeamCounter, beams: BeamPair) -> None:
    for _ in range(5):
        beams.walk_in()
    for _ in range(2):
        beams.walk_out()

    assert counter.take() == Crossings(entered=5, left=2)


def test_take_resets(counter: BeamCounter, beams: BeamPair) -> None:
    beams.walk_in()
    counter.take()

    assert counter.take() == Crossings(entered=0, left=0)


def test_a_person_backing_out_is_no_crossing(counter: BeamCounter, beams: BeamPair) -> None:
    beams.peek()

    assert counter.take() == Crossings(entered=0, left=0)


def test_reaching_the_inner_beam_and_stepping_back_is_no_crossing(
    counter: BeamCounter, pin_factory: MockFactory
) -> None:
    outside, inside = pin_factory.pin(OUTSIDE_PIN), pin_factory.pin(INSIDE_PIN)
    outside.drive_high()
    inside.drive_high()
    inside.drive_low()
    outside.drive_low()

    assert counter.take() == Crossings(entered=0, left=0)


def test_walks_from_many_threads_all_count(counter: BeamCounter, beams: BeamPair) -> None:
    def walk() -> None:
        for _ in range(10):
            beams.walk_in()
            beams.walk_out()

    threads = [threading.Thread(target=walk) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert counter.take() == Crossings(entered=40, left=40)


def test_a_beam_broken_at_start_up_does_not_invent_a_crossing(pin_factory: MockFactory) -> None:
    pin_factory.pin(INSIDE_PIN).drive_high()
    counter = BeamCounter(OUTSIDE_PIN, INSIDE_PIN, pin_factory=pin_factory)
    try:
        pin_factory.pin(INSIDE_PIN).drive_low()
        BeamPair(pin_factory, OUTSIDE_PIN, INSIDE_PIN).walk_in()

        assert counter.take() == Crossings(entered=1, left=0)
    finally:
        counter.close()


def test_a_pin_that_does_not_exist_is_a_hardware_error(pin_factory: MockFactory) -> None:
    with pytest.raises(HardwareError, match="check the pin numbers"):
        BeamCounter(OUTSIDE_PIN, 99, pin_factory=pin_factory)


def test_a_pin_already_in_use_is_a_hardware_error(
    counter: BeamCounter, pin_factory: MockFactory
) -> None:
    with pytest.raises(HardwareError, match="no other process holds them"):
        BeamCounter(OUTSIDE_PIN, INSIDE_PIN, pin_factory=pin_factory)


WALKS = {
    "in": [(Beam.OUTSIDE, True), (Beam.INSIDE, True), (Beam.OUTSIDE, False), (Beam.INSIDE, False)],
    "out": [(Beam.INSIDE, True), (Beam.OUTSIDE, True), (Beam.INSIDE, False), (Beam.OUTSIDE, False)],
    "peek": [(Beam.OUTSIDE, True), (Beam.OUTSIDE, False)],
    "back": [
        (Beam.OUTSIDE, True),
        (Beam.INSIDE, True),
        (Beam.INSIDE, False),
        (Beam.OUTSIDE, False),
    ],
}


@given(st.lists(st.sampled_from(sorted(WALKS))))
def test_tracker_counts_each_complete_walk_once(walks: list[str]) -> None:
    tracker = CrossingTracker()
    for walk in walks:
        for beam, broken in WALKS[walk]:
            if broken:
                tracker.broken(beam)
            else:
                tracker.cleared(beam)

    assert tracker.take() == Crossings(entered=walks.count("in"), left=walks.count("out"))
