"""A board without a battery clock: the true time, and what the box's clocks say about it.

The wall clock is the true time plus an offset, which a reboot with no network sets
(``fake-hwclock`` restores the last saved time: hours or days behind); the monotonic clock
counts from the boot. Whether the box believes its wall clock is ``sync``, which the door
reads through ``edge.clock.TimeSync``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from edge.clock import Sync


@dataclass
class BoardClock:
    true: datetime = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    offset: timedelta = timedelta(0)
    booted_at: datetime = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    sync: Sync = Sync.NTP

    def wall(self) -> datetime:
        return self.true + self.offset

    def monotonic(self) -> float:
        return (self.true - self.booted_at).total_seconds()

    def synchronised(self) -> Sync:
        return self.sync

    def advance(self, seconds: float) -> None:
        self.true += timedelta(seconds=seconds)

    def reboot(self, offset: timedelta, sync: Sync = Sync.NONE) -> None:
        """Power back on with the wall clock ``offset`` from the truth."""
        self.offset, self.sync, self.booted_at = offset, sync, self.true
