"""Shares one beam counter between the door (live occupancy) and the sampler (telemetry)."""

from __future__ import annotations

import threading

from edge.access.occupancy import Occupancy
from edge.hardware.interfaces import Crossings, PeopleCounter


class BeamTee:
    """A :class:`PeopleCounter` that the door pumps often and the sampler drains rarely.

    The door needs crossings within a fraction of a second to know whether the room is
    full; the sampler reports them once a minute. Whoever reads the beams first, each
    crossing reaches the occupancy (once :meth:`feed` named it) and the sampler exactly once.
    """

    def __init__(self, counter: PeopleCounter) -> None:
        self._counter = counter
        self._lock = threading.Lock()
        self._occupancy: Occupancy | None = None
        self._entered = 0
        self._left = 0

    def feed(self, occupancy: Occupancy) -> None:
        with self._lock:
            self._occupancy = occupancy

    def pump(self) -> bool:
        """Read the beams now (the door's tick); whether anyone crossed."""
        with self._lock:
            return self._drain()

    def _drain(self) -> bool:
        seen = self._counter.take()
        if not (seen.entered or seen.left):
            return False
        if self._occupancy is not None:
            self._occupancy.crossed(entered=seen.entered, left=seen.left)
        self._entered += seen.entered
        self._left += seen.left
        return True

    def take(self) -> Crossings:
        with self._lock:
            self._drain()
            crossings = Crossings(self._entered, self._left)
            self._entered = self._left = 0
            return crossings

    def close(self) -> None:
        self._counter.close()
