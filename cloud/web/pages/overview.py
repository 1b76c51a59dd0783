"""The overview: every venue the viewer may see, with people inside, devices and alerts.

Scales to hundreds of venues by paging (50 a page) with search and district/kind filters;
the per-venue figures are a handful of grouped queries for the page shown, not per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, Integer, func, or_, select
from sqlmodel import col

from cloud.aggregates import raw
from cloud.aggregates.models import VenueSettings
from cloud.aggregates.occupancy import live_occupancy
from cloud.aggregates.timezones import venue_zone
from cloud.alerts.models import Alert, AlertStatus
from cloud.api.deps import EngineDep, NowDep
from cloud.core.time import as_utc
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Staff
from cloud.web.state import web_state

router = APIRouter(include_in_schema=False)
PAGE_SIZE: Final = 50

TEXT: Final[Messages] = {
    "overview.title": ("阵地总览", "All venues"),
    "overview.venues": ("阵地", "Venues"),
    "overview.inside": ("当前在场", "Inside now"),
    "overview.devices_online": ("设备在线", "Devices online"),
    "overview.open_alerts": ("未处理告警", "Open alerts"),
    "overview.visits_today": ("今日到访", "Visits today"),
    "overview.venue": ("阵地", "Venue"),
    "overview.district": ("所属区", "District"),
    "overview.kind": ("类型", "Kind"),
    "overview.occupancy": ("在场 / 容量", "Inside / capacity"),
    "overview.devices": ("设备", "Devices"),
    "overview.alerts": ("告警", "Alerts"),
    "overview.search": ("名称或编号", "Name or id"),
    "overview.no_match": ("没有符合条件的阵地", "No venue matches"),
    "overview.over": ("超员", "over capacity"),
    "overview.this_page": ("本页 {page}/{pages}", "page {page} of {pages}"),
    "kind.station": ("户外劳动者驿站", "outdoor workers' station"),
    "kind.outdoor-station": ("户外劳动者驿站", "outdoor workers' station"),
    "kind.worker-home": ("职工之家", "workers' home"),
    "kind.library": ("职工书屋", "library"),
    "kind.sports-hall": ("体育馆", "sports hall"),
    "kind.cultural-palace": ("工人文化宫", "cultural palace"),
}


@dataclass(frozen=True, slots=True)
class VenueRow:
    venue: Venue
    inside: int
    capacity: int | None
    online: int
    devices: int
    open_alerts: int
    visits_today: int

    @property
    def fill_percent(self) -> int:
        if not self.capacity:
            return 0
        return min(100, round(100 * self.inside / self.capacity))

    @property
    def over(self) -> bool:
        return self.capacity is not None and self.inside > self.capacity


def _scoped(query: Any, scope: frozenset[str] | None) -> Any:
    return query if scope is None else query.where(col(Venue.id).in_(scope))


def _local_midnight(now: datetime, tz: str) -> datetime:
    """The start of the venue's local day, in UTC: SQLite compares stored UTC times as text,
    so an aware local time would be read as UTC and land 8 hours late in Shanghai."""
    zone = venue_zone(tz)
    local_day = as_utc(now).astimezone(zone).date()
    return datetime.combine(local_day, time(0), tzinfo=zone).astimezone(UTC)


def _grouped(conn: Connection, query: Any) -> dict[str, Any]:
    return {row[0]: row[1:] for row in conn.execute(query)}


def venue_rows(
    conn: Connection, venues: list[Venue], *, now: datetime, quiet_hour: int | None
) -> list[VenueRow]:
    ids = [v.id for v in venues]
    if not ids:
        return []
    d, a, s = raw.table(Device).c, raw.table(Alert).c, raw.table(VenueSettings).c
    devices = _grouped(
        conn,
        select(d.venue_id, func.count(), func.sum(func.cast(d.online, Integer)))
        .where(d.venue_id.in_(ids), d.status != "decommissioned")
        .group_by(d.venue_id),
    )
    alerts = _grouped(
        conn,
        select(a.venue_id, func.count())
        .where(a.venue_id.in_(ids), a.status != AlertStatus.RESOLVED.value)
        .group_by(a.venue_id),
    )
    capacity = _grouped(conn, select(s.venue_id, s.capacity).where(s.venue_id.in_(ids)))
    rows = []
    for venue in venues:
        live = live_occupancy(
            conn,
            venue.id,
            zone=venue_zone(venue.timezone),
            now=now,
            quiet_hour=quiet_hour,
            day_start=_local_midnight(now, venue.timezone),
        )
        total, online = devices.get(venue.id, (0, 0))
        rows.append(
            VenueRow(
                venue=venue,
                inside=live.count,
                capacity=capacity.get(venue.id, (None,))[0],
                online=int(online or 0),
                devices=int(total),
                open_alerts=int(alerts.get(venue.id, (0,))[0]),
                visits_today=live.visits_today,
            )
        )
    return rows


def _totals(conn: Connection, venues: Any) -> dict[str, int]:
    """Venues, devices and open alerts over every venue the filters select (all pages)."""
    d, a = raw.table(Device).c, raw.table(Alert).c
    total, online = conn.execute(
        select(func.count(), func.sum(func.cast(d.online, Integer))).where(
            d.status != "decommissioned", d.venue_id.in_(venues)
        )
    ).one()
    alerts = select(func.count()).where(
        a.status != AlertStatus.RESOLVED.value, a.venue_id.in_(venues)
    )
    return {
        "venues": conn.execute(select(func.count()).select_from(venues.subquery())).scalar_one(),
        "devices": int(total or 0),
        "online": int(online or 0),
        "alerts": conn.execute(alerts).scalar_one(),
    }


@router.get("/", response_class=HTMLResponse)
def overview(
    *,
    request: Request,
    viewer: Staff,
    engine: EngineDep,
    now: NowDep,
    q: Annotated[str, Query(max_length=60)] = "",
    district: Annotated[str, Query(max_length=60)] = "",
    kind: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    scope = viewer.principal.venue_filter()
    v = raw.table(Venue).c
    where = []
    if q.strip():
        # autoescape: a "%" or "_" typed in the box is looked for, not a wildcard.
        text = q.strip().lower()
        where.append(
            or_(
                func.lower(v.id).contains(text, autoescape=True),
                func.lower(v.name).contains(text, autoescape=True),
            )
        )
    if district:
        where.append(v.district == district)
    if kind:
        where.append(v.kind == kind)
    with engine.connect() as conn:
        base = _scoped(select(Venue), scope).where(*where)
        count = conn.execute(
            _scoped(select(func.count()).select_from(raw.table(Venue)), scope).where(*where)
        ).scalar_one()
        found = [
            Venue.model_validate(row._mapping)
            for row in conn.execute(
                base.order_by(v.district, v.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
            )
        ]
        districts = sorted(
            d for (d,) in conn.execute(_scoped(select(v.district).distinct(), scope)) if d
        )
        kinds = sorted(k for (k,) in conn.execute(_scoped(select(v.kind).distinct(), scope)))
        rows = venue_rows(conn, found, now=now, quiet_hour=web_state(request).quiet_hour)
        totals = _totals(conn, _scoped(select(v.id), scope).where(*where))
    pages = max(1, -(-count // PAGE_SIZE))
    return render(
        request,
        viewer,
        "overview.html",
        # Only this page's venues, and only what its rows show: with hundreds of venues
        # reporting temperatures every few seconds, "venue" news would re-render it nonstop.
        live=" ".join(
            f"{kind}:{row.venue.id}"
            for row in rows
            for kind in ("traffic", "occupancy", "alerts", "devices")
        ),
        live_gap_ms=3000,
        rows=rows,
        totals=totals | {"inside": sum(r.inside for r in rows)},
        count=count,
        page=page,
        pages=pages,
        q=q,
        district=district,
        kind=kind,
        districts=districts,
        kinds=kinds,
        now=now,
    )
