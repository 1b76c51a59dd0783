"""Kiosk redemptions in a report: committed ones, counted on the local day they settled."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, or_, select

from cloud.aggregates import raw
from cloud.aggregates.timezones import local_date, venue_zone
from cloud.devices.models import Device
from cloud.points.models import Redemption, RedemptionState
from cloud.reports.period import Period
from cloud.reports.venues import ReportVenue


@dataclass(slots=True)
class Redeemed:
    count: int = 0
    points: int = 0

    @classmethod
    def combined(cls, parts: Iterable[Redeemed]) -> Redeemed:
        total = cls()
        for part in parts:
            total.count += part.count
            total.points += part.points
        return total


def redemptions(
    conn: Connection, venues: Sequence[ReportVenue], period: Period
) -> dict[str, dict[str, Redeemed]]:
    """venue id -> local day -> committed redemptions and the points they took.

    Cancelled and timed-out ones gave the points back, so they are not counted (the points
    page lists them)."""
    r, d = raw.table(Redemption).c, raw.table(Device).c
    zones = {v.id: venue_zone(v.timezone) for v in venues}
    windows = [
        and_(d.venue_id == venue_id, r.settled_at >= start, r.settled_at < end)
        for venue_id, zone in zones.items()
        for start, end in [period.bounds(zone)]
    ]
    query = (
        select(d.venue_id, r.settled_at, r.price)
        .select_from(raw.table(Redemption).join(raw.table(Device), d.id == r.kiosk_id))
        .where(r.state == RedemptionState.COMMITTED.value, or_(*windows))
    )
    found: dict[str, dict[str, Redeemed]] = defaultdict(lambda: defaultdict(Redeemed))
    for row in conn.execute(query):
        tally = found[row.venue_id][local_date(row.settled_at, zones[row.venue_id]).isoformat()]
        tally.count += 1
        tally.points += int(row.price)
    return found
