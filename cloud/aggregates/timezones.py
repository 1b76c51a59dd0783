"""UTC instants, hour buckets and a venue's local calendar days."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.core.time import as_utc

logger = logging.getLogger(__name__)

DEFAULT_ZONE: Final = "Asia/Shanghai"
HOUR: Final = timedelta(hours=1)
DAY: Final = timedelta(days=1)


@lru_cache(maxsize=256)
def venue_zone(name: str | None) -> ZoneInfo:
    """The venue's zone; an unknown name falls back to China time rather than failing a job."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r on a venue; using %s", name, DEFAULT_ZONE)
        return ZoneInfo(DEFAULT_ZONE)


def floor_hour(value: datetime) -> datetime:
    return as_utc(value).replace(minute=0, second=0, microsecond=0)


def local_date(value: datetime, zone: ZoneInfo) -> date:
    """The calendar day ``value`` falls on in ``zone`` (23:30 in Shanghai is that day)."""
    return as_utc(value).astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC half-open interval ``[start, end)`` of local day ``day`` in ``zone``."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + DAY, time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def local_iso(value: datetime, zone: ZoneInfo) -> str:
    return as_utc(value).astimezone(zone).isoformat()


def last_local_hour(now: datetime, hour: int, zone: ZoneInfo) -> datetime:
    """The latest instant ``<= now`` at which the local clock in ``zone`` read ``hour``:00."""
    today = local_date(now, zone)
    candidate = datetime.combine(today, time(hour), tzinfo=zone).astimezone(UTC)
    if candidate > as_utc(now):
        candidate = datetime.combine(today - DAY, time(hour), tzinfo=zone).astimezone(UTC)
    return candidate
