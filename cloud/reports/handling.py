"""How fast alerts were handled: those opened in the period, by kind, with the median and
95th percentile of the time to acknowledge and to resolve."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, or_, select

from cloud.aggregates import raw
from cloud.aggregates.timezones import local_date, venue_zone
from cloud.alerts.models import Alert
from cloud.core.time import as_utc
from cloud.reports.period import Period
from cloud.reports.venues import ReportVenue

ALERT = raw.table(Alert)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..1): a value that really occurred, which a
    manager can find in the alert list; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered, middle = sorted(values), len(values) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


@dataclass(slots=True)
class Handling:
    """Alerts opened in a span; the seconds each took to be acknowledged and resolved."""

    by_kind: Counter[str] = field(default_factory=Counter)
    ack_s: list[float] = field(default_factory=list)
    resolve_s: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.by_kind.values())

    @classmethod
    def combined(cls, parts: Iterable[Handling]) -> Handling:
        total = cls()
        for part in parts:
            total.by_kind.update(part.by_kind)
            total.ack_s.extend(part.ack_s)
            total.resolve_s.extend(part.resolve_s)
        return total

    def minutes(self, which: str, q: float) -> float | None:
        """Median (q=0.5) or a percentile of ``ack`` or ``resolve`` times, in minutes."""
        values = self.ack_s if which == "ack" else self.resolve_s
        found = median(values) if q == 0.5 else percentile(values, q)
        return None if found is None else round(found / 60, 1)


def alert_handling(
    conn: Connection, venues: Sequence[ReportVenue], period: Period
) -> dict[str, dict[str, Handling]]:
    """venue id -> local day opened -> the handling of the alerts opened that day."""
    a = ALERT.c
    zones = {v.id: venue_zone(v.timezone) for v in venues}
    windows = [
        and_(a.venue_id == venue_id, a.opened_at >= start, a.opened_at < end)
        for venue_id, zone in zones.items()
        for start, end in [period.bounds(zone)]
    ]
    query = select(a.venue_id, a.kind, a.opened_at, a.acknowledged_at, a.resolved_at).where(
        or_(*windows)
    )
    found: dict[str, dict[str, Handling]] = defaultdict(lambda: defaultdict(Handling))
    for row in conn.execute(query):
        opened = as_utc(row.opened_at)
        handling = found[row.venue_id][local_date(opened, zones[row.venue_id]).isoformat()]
        handling.by_kind[row.kind] += 1
        if row.acknowledged_at is not None:
            handling.ack_s.append((as_utc(row.acknowledged_at) - opened).total_seconds())
        if row.resolved_at is not None:
            handling.resolve_s.append((as_utc(row.resolved_at) - opened).total_seconds())
    return found
