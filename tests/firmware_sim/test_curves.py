"""The simulated venue's daily curves: shape, range and determinism."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.curves import (
    LIBRARY,
    OUTDOOR_STATION,
    VENUE_TZ,
    FridgeModel,
    arrival_rate,
    outdoor_c,
    power_w,
    profile,
)


def at_local(hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 7, 15, hour, minute, tzinfo=VENUE_TZ)


def test_library_is_closed_at_night_and_the_station_is_not() -> None:
    assert arrival_rate(LIBRARY, at_local(2)) == 0
    assert arrival_rate(LIBRARY, at_local(20, 59)) > 0
    assert arrival_rate(OUTDOOR_STATION, at_local(2)) > 0


def test_station_is_busiest_at_shift_changes() -> None:
    assert arrival_rate(OUTDOOR_STATION, at_local(6)) > 2 * arrival_rate(
        OUTDOOR_STATION, at_local(9)
    )
    assert arrival_rate(OUTDOOR_STATION, at_local(18)) > 2 * arrival_rate(
        OUTDOOR_STATION, at_local(14)
    )


def test_shanghai_summer_is_hot_in_the_afternoon() -> None:
    days = [at_local(0) + timedelta(days=d) for d in range(10)]
    dawn = [outdoor_c(1, d.replace(hour=5)) for d in days]
    afternoon = [outdoor_c(1, d.replace(hour=14)) for d in days]

    assert all(24 < c < 31 for c in dawn)
    assert all(32 < c < 38 for c in afternoon)


def test_curves_are_deterministic_and_use_local_time() -> None:
    instant = at_local(14)

    assert outdoor_c(3, instant) == outdoor_c(3, instant.astimezone(UTC))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        outdoor_c(1, datetime(2025, 7, 15, 14))  # noqa: DTZ001


def test_unknown_profile_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="library, outdoor-station, worker-home"):
        profile("stadium")


def test_fridge_cycles_between_two_and_seven_degrees() -> None:
    start = at_local(0)
    fridge = FridgeModel(seed=1, start=start)
    temps, compressor = [], []
    for minute in range(1, 6 * 60):
        fridge.advance(start + timedelta(minutes=minute), room_c=27.0)
        temps.append(fridge.temp_c)
        compressor.append(fridge.compressor_on)

    assert 1.5 < min(temps) < 2.5
    assert 6.5 < max(temps) < 7.5
    switches = sum(a != b for a, b in itertools.pairwise(compressor))
    assert switches >= 8  # several full cycles in six hours


def test_opening_the_fridge_door_warms_it() -> None:
    fridge = FridgeModel(seed=1, start=at_local(0), start_c=4.0)
    fridge.open_door()

    assert fridge.temp_c > 4.2


def test_power_rises_with_heat_people_and_compressor() -> None:
    night = power_w(OUTDOOR_STATION, 1, at_local(4), occupancy=0, compressor_on=False)
    busy = power_w(OUTDOOR_STATION, 1, at_local(14), occupancy=8, compressor_on=True)

    assert 0 < night < busy
