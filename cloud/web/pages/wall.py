"""The wall screen (数据大屏): a district's venues on one 1920×1080 page, for days on end.

People inside against capacity per venue, today's visits, entries and energy, and the
open alerts, in large type on a dark screen. It never reloads: the figures change in
place from the live feed (``GET /live/figures``, as on the other pages), the alert list
re-renders alone when alerts move, and every list on it is bounded, so a screen left on
in a control room for a week holds as many nodes on Sunday as on Monday.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Connection, func, select
from sqlmodel import col

from cloud.aggregates import raw
from cloud.alerts.models import Alert, AlertStatus
from cloud.api.deps import EngineDep, NowDep
from cloud.core.lang import venue_name
from cloud.models import Venue
from cloud.web.figures import VenueRow, energy_today, venue_rows
from cloud.web.i18n import Lang, Messages
from cloud.web.pages.overview import figures_url
from cloud.web.render import render
from cloud.web.session import Manager
from cloud.web.state import web_state

router = APIRouter(include_in_schema=False)

# 120 tiles fill 1920×1080 at a readable size; a larger scope is filtered by district.
MAX_VENUES: Final = 120
MAX_ALERTS: Final = 8
ALERTS_GAP_MS: Final = 10_000
FIGURES_GAP_MS: Final = 2_000

TEXT: Final[Messages] = {
    "wall.title": ("数据大屏", "Wall screen"),
    "wall.all_districts": ("全部辖区", "All districts"),
    "wall.inside": ("在场人数", "People inside"),
    "wall.capacity": ("总容量", "Capacity"),
    "wall.visits": ("今日到访人次", "Visits today"),
    "wall.entries": ("今日进入人次", "Entries today"),
    "wall.energy": ("今日用电（千瓦时）", "Energy today (kWh)"),
    "wall.alerts": ("未处理告警", "Open alerts"),
    "wall.no_alerts": ("没有未处理的告警", "No open alerts"),
    "wall.venues": ("阵地", "Venues"),
    "wall.shown": (
        "显示 {shown} / {count} 个阵地，请按辖区筛选",
        "Showing {shown} of {count} venues; choose a district",
    ),
    "wall.over": ("超员", "over"),
    "wall.district": ("辖区", "District"),
    "wall.show": ("显示", "Show"),
    "wall.offline": ("实时连接中断，正在重连…", "Live feed lost; reconnecting…"),
}


@dataclass(frozen=True, slots=True)
class WallAlert:
    venue_name: str
    severity: str
    message: str
    opened_at: datetime
    timezone: str


def _open_alerts(conn: Connection, venues: Sequence[Venue], lang: Lang) -> list[WallAlert]:
    by_id = {v.id: v for v in venues}
    a = raw.table(Alert).c
    rows = conn.execute(
        select(a.venue_id, a.severity, a.message_zh, a.message_en, a.opened_at)
        .where(a.venue_id.in_(list(by_id)), a.status != AlertStatus.RESOLVED.value)
        .order_by(a.opened_at.desc())
        .limit(MAX_ALERTS)
    )
    return [
        WallAlert(
            venue_name=venue_name(by_id[r.venue_id], lang),
            severity=r.severity,
            message=r.message_zh if lang == "zh-CN" else r.message_en,
            opened_at=r.opened_at,
            timezone=by_id[r.venue_id].timezone,
        )
        for r in rows
    ]


def _venues(
    conn: Connection, scope: frozenset[str] | None, district: str
) -> tuple[int, list[Venue]]:
    v = raw.table(Venue).c
    where: list[Any] = [] if scope is None else [col(Venue.id).in_(scope)]
    if district:
        where.append(v.district == district)
    count = conn.execute(
        select(func.count()).select_from(raw.table(Venue)).where(*where)
    ).scalar_one()
    found = [
        Venue.model_validate(row._mapping)
        for row in conn.execute(
            select(Venue).where(*where).order_by(v.district, v.id).limit(MAX_VENUES)
        )
    ]
    return count, found


def _districts(conn: Connection, scope: frozenset[str] | None) -> list[str]:
    v = raw.table(Venue).c
    query = select(v.district).distinct()
    if scope is not None:
        query = query.where(v.id.in_(scope))
    return sorted(d for (d,) in conn.execute(query) if d)


def _totals(rows: Sequence[VenueRow]) -> dict[str, int]:
    return {
        "inside": sum(r.inside for r in rows),
        "capacity": sum(r.capacity or 0 for r in rows),
        "visits": sum(r.visits_today for r in rows),
        "entries": sum(r.entries_today for r in rows),
        "alerts": sum(r.open_alerts for r in rows),
    }


def _alert_part(venues: Sequence[Venue], district: str) -> dict[str, Any]:
    """What the alert list's part needs to find its news and itself again."""
    query = {"part": "alerts"} | ({"district": district} if district else {})
    return {
        "alert_topics": " ".join(f"alerts:{v.id}" for v in venues),
        "alerts_src": f"/wall?{urlencode(query)}",
        "alerts_gap_ms": ALERTS_GAP_MS,
    }


@router.get("/wall", response_class=HTMLResponse)
def wall(
    *,
    request: Request,
    viewer: Manager,
    engine: EngineDep,
    now: NowDep,
    district: Annotated[str, Query(max_length=60)] = "",
    part: Annotated[str, Query(max_length=12)] = "",
) -> HTMLResponse:
    scope = viewer.principal.venue_filter()
    with engine.connect() as conn:
        count, venues = _venues(conn, scope, district)
        alerts = _open_alerts(conn, venues, viewer.lang)
        if part == "alerts":
            return render(
                request,
                viewer,
                "wall.html",
                layout="wall_part_alerts.html",
                alerts=alerts,
                **_alert_part(venues, district),
            )
        rows = venue_rows(conn, venues, now=now, quiet_hour=web_state(request).quiet_hour)
        energy = energy_today(conn, venues, now)
        districts = _districts(conn, scope)
    ids = [v.id for v in venues]
    return render(
        request,
        viewer,
        "wall.html",
        layout="wall_frame.html",
        live="",
        live_gap_ms=FIGURES_GAP_MS,
        live_figures=" ".join(f"{k}:{i}" for i in ids for k in ("traffic", "occupancy", "alerts")),
        figures_src=figures_url(ids, energy="1"),
        **_alert_part(venues, district),
        rows=rows,
        totals=_totals(rows),
        energy=energy,
        alerts=alerts,
        count=count,
        district=district,
        districts=districts,
        max_venues=MAX_VENUES,
        now=now,
    )
