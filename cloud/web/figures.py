"""The live figures of venues: people inside, today's visits and entries, devices, alerts.

The overview, the venue page and the wall screen render them into their HTML, each figure
in an element carrying ``data-fig="<venue>:<name>"``; ``GET /live/figures`` answers the
same figures as a small JSON object, and app.js writes them into those elements in place
when the live feed names a venue's topic. A page therefore never re-renders to move a
number, and the figures on the page and in the JSON come from this one function.

Computed for all the page's venues in a few grouped queries (``occupancy_many``), not
per venue: the overview's 50 rows used to cost about seven queries each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, Integer, case, func, literal, select, union_all

from cloud.aggregates import raw
from cloud.aggregates.models import EnergyDaily
from cloud.aggregates.occupancy_many import live_figures
from cloud.aggregates.timezones import local_date, venue_zone
from cloud.alerts.models import Alert, AlertStatus
from cloud.devices.models import Device
from cloud.models import Venue

DOOR_ROLE: Final = "door"

Figures = dict[str, int | str | bool | None]


@dataclass(frozen=True, slots=True)
class VenueRow:
    venue: Venue
    inside: int
    capacity: int | None
    online: int
    devices: int
    open_alerts: int
    visits_today: int  # admitted at a door
    entries_today: int = 0  # people the beam counter saw come in
    doors: int = 0  # door devices in service

    @property
    def fill_percent(self) -> int:
        if not self.capacity:
            return 0
        return min(100, round(100 * self.inside / self.capacity))

    @property
    def over(self) -> bool:
        return self.capacity is not None and self.inside > self.capacity

    @property
    def today_kind(self) -> str:
        """``visits`` where a door admits people, else ``entries`` (the beam's count): a
        venue without a door showed 0 visits while its beam counted a hundred people."""
        return "visits" if self.doors or not self.entries_today else "entries"

    @property
    def today(self) -> int:
        return self.visits_today if self.today_kind == "visits" else self.entries_today

    def figures(self) -> Figures:
        """This venue's figures, keyed ``<venue>:<name>`` as the page's ``data-fig``."""
        devices_ok = self.online == self.devices
        values: Figures = {
            "inside": self.inside,
            "capacity": self.capacity,
            "over": self.over,
            "bar": "over" if self.over else "",
            "fill": self.fill_percent,
            "visits": self.visits_today,
            "entries": self.entries_today,
            "today": self.today,
            "online": self.online,
            "devices": f"{self.online} / {self.devices}",
            "devices_state": "ok" if devices_ok else "warn",
            "alerts": self.open_alerts,
            "alerts_state": "bad" if self.open_alerts else "muted",
        }
        return {f"{self.venue.id}:{name}": value for name, value in values.items()}


def venue_rows(
    conn: Connection, venues: Sequence[Venue], *, now: datetime, quiet_hour: int | None
) -> list[VenueRow]:
    """The figures of ``venues``, in their order, from a handful of grouped queries."""
    ids = [v.id for v in venues]
    if not ids:
        return []
    d, a = raw.table(Device).c, raw.table(Alert).c
    # Devices and open alerts per venue, one round trip (each is one on PostgreSQL).
    devices_and_alerts = union_all(
        select(
            d.venue_id,
            literal("devices").label("what"),
            func.count(),
            func.sum(func.cast(d.online, Integer)),
            func.sum(case((d.role == DOOR_ROLE, 1), else_=0)),
        )
        .where(d.venue_id.in_(ids), d.status != "decommissioned")
        .group_by(d.venue_id),
        select(a.venue_id, literal("alerts").label("what"), func.count(), literal(0), literal(0))
        .where(a.venue_id.in_(ids), a.status != AlertStatus.RESOLVED.value)
        .group_by(a.venue_id),
    )
    devices: dict[str, tuple[int, int, int]] = {}
    alerts: dict[str, int] = {}
    for venue, what, n, online, doors in conn.execute(devices_and_alerts):
        if what == "devices":
            devices[venue] = (int(n), int(online or 0), int(doors or 0))
        else:
            alerts[venue] = int(n)
    live = live_figures(
        conn, {v.id: venue_zone(v.timezone) for v in venues}, now=now, quiet_hour=quiet_hour
    )
    rows = []
    for venue in venues:
        total, online, doors = devices.get(venue.id, (0, 0, 0))
        figures = live[venue.id]
        rows.append(
            VenueRow(
                venue=venue,
                inside=figures.count,
                capacity=figures.capacity,
                online=online,
                devices=total,
                open_alerts=alerts.get(venue.id, 0),
                visits_today=figures.visits_today,
                entries_today=figures.entries_today,
                doors=doors,
            )
        )
    return rows


def energy_today(conn: Connection, venues: Sequence[Venue], now: datetime) -> float:
    """kWh of today's local date at each venue, as the energy rollup has it so far."""
    if not venues:
        return 0.0
    e = raw.table(EnergyDaily).c
    days = {v.id: local_date(now, venue_zone(v.timezone)) for v in venues}
    rows = conn.execute(
        select(e.venue_id, e.local_date, e.kwh).where(
            e.venue_id.in_(list(days)), e.local_date.in_(set(days.values()))
        )
    )
    return round(float(sum(r.kwh for r in rows if days.get(r.venue_id) == r.local_date)), 1)
