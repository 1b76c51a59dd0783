"""How many people are inside a room, from beam crossings and accepted scans, kept on disk.

Two sources, never added together (that would count everyone twice):

* With a two-beam counter (``has_beams=True``) the beams are the truth for bodies through the
  doorway, in both directions. An accepted entry scan is a *pending* entry: it holds a place
  until its person crosses the beams (the crossing consumes it) or ``scan_window_s`` passes
  (they scanned and walked away). So two people scanning one second apart at the last free
  place do not both get in before the beams have seen the first.
* Without beams, scans are the truth: an "in" scan adds one, an "out" scan takes one away.
  That needs separate in and out readers; a "both" reader cannot tell.

The count never goes below zero (a missed entry followed by its exit would otherwise leave
the room "minus one" for ever). Drift is reconciled two ways: :meth:`Occupancy.reconcile`
sets the true count (a manager counted heads, or the cloud knows better), and an optional
daily ``quiet_reset`` local time resets to zero for a venue that empties at night (a library,
a worker home's day room); a 24-hour station leaves it unset.

State is a small JSON file replaced atomically on every change, so a restart does not
forget a full room. Pending scans live in memory only: after a restart they have expired.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Final, Literal
from zoneinfo import ZoneInfo

from edge.clock import Clock
from edge.errors import EdgeError

logger = logging.getLogger(__name__)

ScanDirection = Literal["in", "out"]
# Long enough to open a door and walk through it; short enough that a scan-and-leave frees
# its place before the next person gives up waiting.
DEFAULT_SCAN_WINDOW_S: Final = 15.0


class OccupancyError(EdgeError, RuntimeError):
    """The occupancy file cannot be written."""


@dataclass(frozen=True, slots=True)
class OccupancySnapshot:
    count: int  # bodies inside, as counted
    pending: int  # accepted entry scans not yet seen by the beams
    updated_at: datetime | None

    @property
    def total(self) -> int:
        """What capacity is checked against."""
        return self.count + self.pending


@dataclass(frozen=True, slots=True)
class QuietReset:
    """Reset the count to zero every day at ``at`` on the venue's wall clock."""

    at: time
    zone: ZoneInfo


class Occupancy:
    """Thread-safe live count for one room; the agent feeds it crossings and scans."""

    def __init__(
        self,
        path: Path,
        *,
        clock: Clock,
        has_beams: bool,
        scan_window_s: float = DEFAULT_SCAN_WINDOW_S,
        quiet_reset: QuietReset | None = None,
    ) -> None:
        self._path = path
        self._clock = clock
        self._has_beams = has_beams
        self._window = timedelta(seconds=scan_window_s)
        self._quiet = quiet_reset
        self._lock = threading.Lock()
        self._pending: deque[datetime] = deque()
        self._count, self._updated_at, self._reset_at = self._load()
        if self._reset_at is None:
            # A fresh file: the last quiet reset is "now", not a reason to zero on start.
            self._reset_at = self._last_quiet(self._clock())

    def _load(self) -> tuple[int, datetime | None, datetime | None]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            count = max(0, int(data["count"]))
            updated = _parse(data.get("updated_at"))
            reset = _parse(data.get("reset_at"))
        except FileNotFoundError:
            return 0, None, None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A corrupt file must not keep the door shut; start at zero and say so.
            logger.warning("occupancy file %s unreadable (%s): starting from 0", self._path, exc)
            return 0, None, None
        return count, updated, reset

    def _save(self) -> None:
        data = {
            "count": self._count,
            "updated_at": _iso(self._updated_at),
            "reset_at": _iso(self._reset_at),
        }
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as fh:
                json.dump(data, fh)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self._path)
        except OSError as exc:
            raise OccupancyError(
                f"cannot write occupancy to {self._path}: {exc}; check the disk and permissions"
            ) from exc

    def _last_quiet(self, now: datetime) -> datetime | None:
        if self._quiet is None:
            return None
        local = now.astimezone(self._quiet.zone)
        boundary = datetime.combine(local.date(), self._quiet.at, tzinfo=self._quiet.zone)
        if boundary > local:
            boundary = datetime.combine(
                local.date() - timedelta(days=1), self._quiet.at, tzinfo=self._quiet.zone
            )
        return boundary.astimezone(UTC)

    def _refresh(self, now: datetime) -> None:
        """Drop expired pending scans and apply a quiet reset that is due (lock held)."""
        while self._pending and now - self._pending[0] >= self._window:
            self._pending.popleft()
        boundary = self._last_quiet(now)
        if boundary is not None and (self._reset_at is None or boundary > self._reset_at):
            if self._count:
                logger.info("quiet-hour reset: occupancy %d -> 0", self._count)
            self._count = 0
            self._pending.clear()
            self._reset_at = boundary
            self._updated_at = now
            self._save()

    def _changed(self, now: datetime, count: int) -> int:
        self._count = max(0, count)
        self._updated_at = now
        self._save()
        return self._count + len(self._pending)

    def crossed(self, *, entered: int, left: int) -> int:
        """The beams saw these crossings since the last call; returns the new total."""
        if entered < 0 or left < 0:
            raise ValueError(f"crossings are counts, not {entered=} {left=}")
        now = self._clock()
        with self._lock:
            self._refresh(now)
            if not self._has_beams or (entered == 0 and left == 0):
                return self._count + len(self._pending)
            for _ in range(min(entered, len(self._pending))):
                self._pending.popleft()
            return self._changed(now, self._count + entered - left)

    def scanned(self, direction: ScanDirection) -> int:
        """A scan was accepted and the door opened; returns the new total."""
        now = self._clock()
        with self._lock:
            self._refresh(now)
            if self._has_beams:
                if direction == "in":
                    self._pending.append(now)
                return self._count + len(self._pending)
            return self._changed(now, self._count + (1 if direction == "in" else -1))

    def reconcile(self, count: int) -> None:
        """Someone who knows set the true count (head count, cloud); pending scans go too."""
        if count < 0:
            raise ValueError(f"occupancy cannot be {count}; give 0 or more")
        now = self._clock()
        with self._lock:
            self._pending.clear()
            logger.info("occupancy reconciled: %d -> %d", self._count, count)
            self._changed(now, count)

    def snapshot(self) -> OccupancySnapshot:
        with self._lock:
            self._refresh(self._clock())
            return OccupancySnapshot(self._count, len(self._pending), self._updated_at)

    def current(self) -> int:
        """People inside plus places held by accepted scans: compare with capacity."""
        return self.snapshot().total


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _parse(text: object) -> datetime | None:
    if text is None:
        return None
    parsed = datetime.fromisoformat(str(text))
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed
