"""The arrival/stay process behind the simulated door."""

from datetime import timedelta

from firmware_sim.curves import LIBRARY, OUTDOOR_STATION, VENUE_TZ, local
from firmware_sim.traffic import Passage, Traffic

from .test_curves import at_local


def test_same_seed_same_day_whatever_the_step_size() -> None:
    start = at_local(0)
    coarse = Traffic(OUTDOOR_STATION, seed=7, start=start).until(start + timedelta(days=1))
    fine_traffic = Traffic(OUTDOOR_STATION, seed=7, start=start)
    fine = []
    for minute in range(1, 24 * 60 + 1, 7):
        fine += fine_traffic.until(start + timedelta(minutes=minute))
    fine += fine_traffic.until(start + timedelta(days=1))

    assert coarse == fine
    assert len(coarse) > 100


def test_occupancy_never_goes_negative_or_over_capacity() -> None:
    start = at_local(0)
    traffic = Traffic(OUTDOOR_STATION, seed=3, start=start)
    inside = 0
    for event in traffic.until(start + timedelta(days=2)):
        inside += {Passage.ENTER: 1, Passage.LEAVE: -1, Passage.PEEK: 0}[event.passage]
        assert 0 <= inside <= OUTDOOR_STATION.capacity

    assert inside == traffic.occupancy


def test_library_is_empty_and_quiet_at_night() -> None:
    start = at_local(0)
    traffic = Traffic(LIBRARY, seed=5, start=start)
    events = traffic.until(start + timedelta(days=1))

    assert events
    assert all(9 <= local(e.at).hour < 21 or e.passage is Passage.LEAVE for e in events)
    assert all(local(e.at).hour < 21 or local(e.at) == at_local(21) for e in events)
    assert traffic.occupancy == 0
    assert local(events[-1].at).tzinfo == VENUE_TZ
