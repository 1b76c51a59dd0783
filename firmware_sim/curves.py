"""Deterministic daily curves for a simulated venue: traffic, heat and power draw.

Every function here is pure: the same (profile, seed, instant) gives the same answer, so
a simulated day can be replayed exactly. Local time is Asia/Shanghai, where the venues are.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

VENUE_TZ = ZoneInfo("Asia/Shanghai")
HOURS = 24


@dataclass(frozen=True, slots=True)
class VenueProfile:
    """How one kind of venue is used over a day."""

    name: str
    # Mean arrivals per hour for each local hour 0..23; 0 means closed.
    arrivals_per_hour: tuple[float, ...]
    mean_stay_min: float
    capacity: int
    # Share of people who look in at the door and turn back (one beam only).
    peek_share: float
    # Share of arrivals who open the fridge (bumps its temperature).
    fridge_use_share: float
    base_load_w: float  # router, edge box, lights left on, water dispenser standby
    per_person_w: float  # phone/e-bike charging, microwave, reading lamps
    air_conditioned: bool = True

    def __post_init__(self) -> None:
        if len(self.arrivals_per_hour) != HOURS:
            raise ValueError(f"{self.name}: arrivals_per_hour needs {HOURS} values")

    def is_open(self, local_hour: int) -> bool:
        return self.arrivals_per_hour[local_hour] > 0

    @property
    def peak_rate(self) -> float:
        return max(self.arrivals_per_hour)


# Riders and sanitation workers come in around shift changes (05-07, 11-13, 17-19) and
# for the night shift (22-02); the station never closes.
OUTDOOR_STATION = VenueProfile(
    name="outdoor-station",
    arrivals_per_hour=(
        *(6, 4, 3, 2, 3, 9, 14, 10, 5, 4, 6, 14),
        *(16, 9, 5, 5, 7, 13, 15, 10, 6, 5, 8, 8),
    ),
    mean_stay_min=18,
    capacity=12,
    peek_share=0.05,
    fridge_use_share=0.35,
    base_load_w=90,
    per_person_w=45,
)
# Evening activities after work, weekend-like daytime trickle, quiet overnight.
WORKER_HOME = VenueProfile(
    name="worker-home",
    arrivals_per_hour=(
        *(0.5, 0.3, 0.2, 0.2, 0.2, 0.5, 1, 3, 4, 5, 6, 7),
        *(8, 6, 6, 7, 9, 14, 20, 22, 18, 10, 4, 1),
    ),
    mean_stay_min=75,
    capacity=60,
    peek_share=0.03,
    fridge_use_share=0.1,
    base_load_w=150,
    per_person_w=25,
)
# Open 09:00-21:00, closed at night.
LIBRARY = VenueProfile(
    name="library",
    arrivals_per_hour=(
        *(0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 15, 14),
        *(10, 12, 16, 15, 13, 14, 16, 18, 12, 0, 0, 0),
    ),
    mean_stay_min=95,
    capacity=80,
    peek_share=0.02,
    fridge_use_share=0.05,
    base_load_w=60,
    per_person_w=12,
)
PROFILES: dict[str, VenueProfile] = {p.name: p for p in (OUTDOOR_STATION, WORKER_HOME, LIBRARY)}


def profile(name: str) -> VenueProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ValueError(f"unknown venue profile {name!r}; choose one of {known}") from None


def local(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("simulation time must be timezone-aware")
    return now.astimezone(VENUE_TZ)


def arrival_rate(venue: VenueProfile, now: datetime) -> float:
    """Arrivals per hour at ``now``, linearly blended between hourly means while open."""
    t = local(now)
    hour = t.hour
    if not venue.is_open(hour):
        return 0.0
    frac = (t.minute * 60 + t.second) / 3600
    nxt = venue.arrivals_per_hour[(hour + 1) % HOURS]
    here = venue.arrivals_per_hour[hour]
    # Do not blend towards a closed hour: the door shuts on the hour.
    return here if nxt == 0 else here + (nxt - here) * frac


def _day_offset_c(seed: int, now: datetime) -> float:
    # One draw per local date: some July days are hotter than others.
    rng = random.Random(f"{seed}:{local(now).date().isoformat()}")
    return rng.uniform(-2.0, 2.5)


def outdoor_c(seed: int, now: datetime) -> float:
    """Shanghai midsummer air temperature: ~27 °C before dawn, ~35 °C mid-afternoon."""
    t = local(now)
    hour = t.hour + t.minute / 60 + t.second / 3600
    # Coolest at 05:00, warmest at 14:00; a cosine over the day is close enough.
    daily = math.cos((hour - 14.0) / HOURS * 2 * math.pi)
    return 31.0 + 4.0 * daily + _day_offset_c(seed, now)


def indoor_c(venue: VenueProfile, seed: int, now: datetime, *, occupancy: int) -> float:
    """Room air: the air conditioner holds ~26 °C but loses ground on hot afternoons."""
    outside = outdoor_c(seed, now)
    if not venue.air_conditioned:
        return outside
    crowd = min(occupancy, venue.capacity) * 0.05
    return 26.0 + 0.25 * max(0.0, outside - 26.0) + crowd


def mains_voltage(seed: int, now: datetime) -> float:
    """China's 220 V mains, sagging a little at the evening peak."""
    t = local(now)
    hour = t.hour + t.minute / 60
    sag = 4.0 * math.exp(-(((hour - 19.5) / 2.0) ** 2))
    ripple = random.Random(f"{seed}:{int(now.timestamp()) // 60}").uniform(-0.8, 0.8)
    return 226.0 - sag + ripple


def power_w(
    venue: VenueProfile,
    seed: int,
    now: datetime,
    *,
    occupancy: int,
    compressor_on: bool,
) -> float:
    """Active power at the meter: base load, people, air conditioning and the fridge."""
    outside = outdoor_c(seed, now)
    open_now = venue.is_open(local(now).hour)
    aircon = 110.0 * max(0.0, outside - 26.0) if venue.air_conditioned and open_now else 0.0
    people = venue.per_person_w * min(occupancy, venue.capacity)
    fridge = 85.0 if compressor_on else 0.0
    return venue.base_load_w + people + aircon + fridge


# Thermostat band of a small drinks fridge; the DS18B20 sits on a middle shelf.
FRIDGE_CUT_IN_C = 7.0
FRIDGE_CUT_OUT_C = 2.0
FRIDGE_COOL_C_PER_MIN = 0.25
# Heat leak towards the room: with a 27 °C room, 2 -> 7 °C takes about 25 minutes.
FRIDGE_LEAK_PER_MIN = 0.009
FRIDGE_STEP_S = 30.0


class FridgeModel:
    """A fridge probe's temperature: compressor cycles plus a bump each time the door opens."""

    def __init__(self, *, seed: int, start: datetime, start_c: float = 4.5) -> None:
        self._rng = random.Random(f"{seed}:fridge")
        self._at = start
        self.temp_c = start_c
        self.compressor_on = False

    def advance(self, now: datetime, *, room_c: float) -> None:
        """Integrate to ``now`` in short steps so the thermostat switches on time."""
        while self._at < now:
            dt_s = min(FRIDGE_STEP_S, (now - self._at).total_seconds())
            minutes = dt_s / 60
            if self.compressor_on:
                self.temp_c -= FRIDGE_COOL_C_PER_MIN * minutes
            else:
                self.temp_c += FRIDGE_LEAK_PER_MIN * (room_c - self.temp_c) * minutes
            if self.temp_c >= FRIDGE_CUT_IN_C:
                self.compressor_on = True
            elif self.temp_c <= FRIDGE_CUT_OUT_C:
                self.compressor_on = False
            self._at += timedelta(seconds=dt_s)

    def open_door(self) -> None:
        """Someone takes a drink: warm air rushes in."""
        self.temp_c += self._rng.uniform(0.3, 1.2)
