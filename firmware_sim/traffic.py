"""Who walks through a simulated venue's door, and when: a seeded arrival/stay process."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from firmware_sim.curves import VenueProfile, arrival_rate, local

MIN_STAY = timedelta(minutes=2)
# Forehead readings of healthy people after walking in from the heat, and a few ill ones.
SKIN_MEAN_C = 36.3
SKIN_SD_C = 0.3
FEVER_SHARE = 0.03
# Hats, hair and sweat-cooled skin give readings the sensor should not trust.
IMPLAUSIBLE_SHARE = 0.02


class Passage(Enum):
    ENTER = "enter"
    LEAVE = "leave"
    PEEK = "peek"  # broke the outside beam and turned back


@dataclass(frozen=True, slots=True)
class DoorEvent:
    at: datetime
    passage: Passage
    skin_c: float | None = None  # what the door's IR sensor sees of someone entering


class Traffic:
    """A non-homogeneous Poisson arrival process (Lewis-Shedler thinning) with stays.

    Candidate arrivals come at the profile's peak rate and are kept with probability
    rate(t) / peak, so the sequence depends only on the seed, not on how often
    :meth:`until` is called. Occupancy never goes negative: only someone inside leaves.
    """

    def __init__(self, venue: VenueProfile, *, seed: int, start: datetime) -> None:
        self._venue = venue
        self._rng = random.Random(f"{seed}:traffic")
        self._departures: list[datetime] = []
        self._candidate = self._next_candidate(start)
        self.occupancy = 0

    def until(self, now: datetime) -> list[DoorEvent]:
        """Return the door events up to and including ``now``, oldest first."""
        events: list[DoorEvent] = []
        while True:
            leave_at = self._departures[0] if self._departures else None
            if leave_at is not None and leave_at <= self._candidate and leave_at <= now:
                heapq.heappop(self._departures)
                self.occupancy -= 1
                events.append(DoorEvent(leave_at, Passage.LEAVE))
            elif self._candidate <= now:
                arrival = self._arrival(self._candidate)
                if arrival is not None:
                    events.append(arrival)
                self._candidate = self._next_candidate(self._candidate)
            else:
                return events

    def _next_candidate(self, after: datetime) -> datetime:
        peak_per_s = max(self._venue.peak_rate, 1e-6) / 3600
        return after + timedelta(seconds=self._rng.expovariate(peak_per_s))

    def _arrival(self, at: datetime) -> DoorEvent | None:
        accept = self._rng.random() * self._venue.peak_rate
        if accept >= arrival_rate(self._venue, at):
            return None
        if self.occupancy >= self._venue.capacity or self._rng.random() < self._venue.peek_share:
            return DoorEvent(at, Passage.PEEK)
        self.occupancy += 1
        stay = max(
            MIN_STAY, timedelta(minutes=self._rng.expovariate(1 / self._venue.mean_stay_min))
        )
        leave_at = at + stay
        closing = self._closing_after(at)
        if closing is not None:
            leave_at = min(leave_at, closing)
        heapq.heappush(self._departures, leave_at)
        return DoorEvent(at, Passage.ENTER, skin_c=self._skin_c())

    def _closing_after(self, at: datetime) -> datetime | None:
        """The start of the first closed local hour after ``at``; everyone is out by then."""
        start = local(at).replace(minute=0, second=0, microsecond=0)
        for ahead in range(1, 25):
            hour_start = start + timedelta(hours=ahead)
            if not self._venue.is_open(hour_start.hour):
                return hour_start
        return None

    def _skin_c(self) -> float:
        roll = self._rng.random()
        if roll < IMPLAUSIBLE_SHARE:
            return self._rng.uniform(26.0, 29.5)
        if roll < IMPLAUSIBLE_SHARE + FEVER_SHARE:
            return self._rng.uniform(37.3, 38.8)
        return self._rng.gauss(SKIN_MEAN_C, SKIN_SD_C)
