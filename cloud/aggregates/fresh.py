"""Rollup rows the job has not written yet: buckets with raw rows stored since its last run.

The rollup job runs every minute or so on the leader; between runs (or with jobs off in
this process, or before its first run) the rollup tables lag the raw readings. The read
side asks which of its buckets hold rows stored since the last run and computes those
from raw rows with the job's own functions, so an answer includes a reading stored a
moment ago and equals what the next run will write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from cloud.aggregates.rollups import ARRIVAL_MARGIN, changed_hours, rolled_up_at
from cloud.aggregates.timezones import HOUR, floor_hour, local_date

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Pending:
    rolled_up_at: datetime | None  # the job's last run; None before its first
    hours: frozenset[datetime]  # UTC hours with raw rows that run may not have seen

    def days(self, zone: ZoneInfo) -> set[date]:
        """The local days the pending hours touch (an hour may straddle midnight)."""
        last = HOUR - timedelta(microseconds=1)
        return {local_date(h, zone) for h in self.hours} | {
            local_date(h + last, zone) for h in self.hours
        }


def pending(conn: Connection, venue_id: str, *, since: datetime, until: datetime) -> Pending:
    """The hours overlapping ``[since, until)`` whose rollups may be stale."""
    at = rolled_up_at(conn)
    # The job itself re-reads this margin: a row may commit after the run that skipped it.
    received_since = None if at is None else at - ARRIVAL_MARGIN
    hours = changed_hours(
        conn, received_since=received_since, venue_id=venue_id, ts_window=(since, until)
    ).get(venue_id, set())
    return Pending(rolled_up_at=at, hours=frozenset(floor_hour(h) for h in hours))


def overlay(
    stored: Iterable[Row],
    fresh: Iterable[Row],
    *,
    stale: Callable[[Row], bool],
    key: Callable[[Row], Any],
) -> list[Row]:
    """``stored`` rollup rows without the stale buckets, plus ``fresh`` ones, by ``key``.

    A stale bucket's stored rows go even where raw has none now, as a re-run would do."""
    return sorted([*(r for r in stored if not stale(r)), *fresh], key=key)


def window(rows: Sequence[Row], *, limit: int, offset: int) -> tuple[int, Sequence[Row]]:
    return len(rows), rows[offset : offset + limit]
