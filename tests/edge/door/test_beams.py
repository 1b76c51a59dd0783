"""The doorway's beams feed the door's occupancy at once and the sampler later, each once."""

from datetime import UTC, datetime
from pathlib import Path

from gpiozero.pins.mock import MockFactory

from edge.access.occupancy import Occupancy
from edge.door.beams import BeamTee
from edge.hardware.counter import BeamCounter
from edge.hardware.interfaces import Crossings
from firmware_sim.beams import BeamPair


def test_every_crossing_reaches_occupancy_and_the_sampler_once(tmp_path: Path) -> None:
    factory = MockFactory()
    counter = BeamCounter(17, 27, pin_factory=factory)
    beams = BeamPair(factory, 17, 27)
    tee = BeamTee(counter)
    occupancy = Occupancy(
        tmp_path / "occupancy.json", clock=lambda: datetime(2026, 1, 1, tzinfo=UTC), has_beams=True
    )
    tee.feed(occupancy)
    try:
        for _ in range(3):
            beams.walk_in()
        tee.pump()
        assert occupancy.current() == 3
        beams.walk_out()
        tee.pump()
        tee.pump()  # nothing new: nothing counted twice
        assert occupancy.current() == 2
        beams.walk_in()  # the sampler reads it before the door's tick does
        assert tee.take() == Crossings(4, 1)
        assert occupancy.current() == 3
        assert tee.take() == Crossings(0, 0)
    finally:
        tee.close()
        factory.close()
