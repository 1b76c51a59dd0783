"""Times on the dashboard: stored in UTC, shown in the venue's own zone."""

from __future__ import annotations

from datetime import datetime

from cloud.aggregates.timezones import venue_zone
from cloud.core.time import as_utc


def local(value: datetime | str | None, tz: str | None, *, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``value`` (a datetime or an ISO 8601 string) in the zone ``tz`` names, or "—"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        parsed = value
    return as_utc(parsed).astimezone(venue_zone(tz)).strftime(fmt)
