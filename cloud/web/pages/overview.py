"""The overview: every venue the viewer may see, with people inside, devices and alerts;
and ``GET /live/figures``, the small JSON the live pages update their figures from.

Scales to hundreds of venues by paging (50 a page) with search and district/kind filters;
the per-venue figures are a handful of grouped queries for the page shown, not per row
(cloud/web/figures.py).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection, Integer, and_, func, or_, select
from sqlmodel import col

from cloud.aggregates import raw
from cloud.alerts.models import Alert, AlertStatus
from cloud.api.deps import EngineDep, NowDep
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.web.figures import VenueRow, energy_today, venue_rows
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Staff
from cloud.web.state import web_state

__all__ = ["TEXT", "VenueRow", "router", "venue_rows"]

router = APIRouter(include_in_schema=False)
PAGE_SIZE: Final = 50

TEXT: Final[Messages] = {
    "overview.title": ("阵地总览", "All venues"),
    "overview.venues": ("阵地", "Venues"),
    "overview.inside": ("在场人数", "People inside"),
    "overview.devices_online": ("设备在线", "Devices online"),
    "overview.open_alerts": ("未处理告警", "Open alerts"),
    "overview.visits_today": ("今日到访人次", "Visits today"),
    "overview.venue": ("阵地", "Venue"),
    "overview.district": ("所属区", "District"),
    "overview.kind": ("类型", "Kind"),
    "overview.occupancy": ("在场人数 / 容量", "People inside / capacity"),
    "overview.devices": ("设备", "Devices"),
    "overview.alerts": ("告警", "Alerts"),
    "overview.search": ("名称或编号", "Name or id"),
    "overview.no_match": ("没有符合条件的阵地", "No venue matches"),
    "overview.over": ("超员", "over capacity"),
    "overview.this_page": ("本页 {page}/{pages}", "page {page} of {pages}"),
    "overview.today": ("今日到访人次 / 进入人次", "Visits / entries today"),
    # One word per figure on every page, each with its definition (the page's "?" and
    # title): visits, entries and members counted three ways read as a contradiction.
    "fig.visits": ("今日到访人次", "Visits today"),
    "fig.visits.help": (
        "门禁验证通过、放行入场的人次",
        "People admitted at the door (accepted codes)",
    ),
    "fig.entries": ("今日进入人次", "Entries today"),
    "fig.entries.help": (
        "客流计数器（红外对射）数到的进入人次，含未刷码同行者；没有门禁的阵地只有这一项",
        "People the beam counter saw come in, with companions (all that doorless venues count)",
    ),
    "fig.members": ("到访会员数", "Unique members"),
    "fig.members.help": (
        "今日到访的不同会员人数（同一会员多次进出只算一人）",
        "Distinct members who visited today (one person however often they came)",
    ),
    "fig.inside.help": (
        "从每日清零（或管理员清点）起，进入减离开",
        "Entries minus exits since the daily reset (or the last head count)",
    ),
    "fig.what": ("这些数字的含义", "What these figures mean"),
    "fig.entries_short": ("进入人次", "entries"),
    "fig.too_many": (
        "一次最多查询 {n} 个阵地，请分页查询",
        "At most {n} venues at once; ask page by page",
    ),
    "kind.station": ("户外劳动者驿站", "outdoor workers' station"),
    "kind.outdoor-station": ("户外劳动者驿站", "outdoor workers' station"),
    "kind.worker-home": ("职工之家", "workers' home"),
    "kind.library": ("职工书屋", "library"),
    "kind.sports-hall": ("体育馆", "sports hall"),
    "kind.cultural-palace": ("工人文化宫", "cultural palace"),
}


MAX_FIGURE_VENUES: Final = 200  # the wall screen's bound; a page shows 50


def _filters(q: str, district: str, kind: str) -> list[Any]:
    v = raw.table(Venue).c
    where = []
    if q.strip():
        # autoescape: a "%" or "_" typed in the box is looked for, not a wildcard.
        text = q.strip().lower()
        where.append(
            or_(
                func.lower(v.id).contains(text, autoescape=True),
                func.lower(v.name).contains(text, autoescape=True),
                func.lower(v.name_en).contains(text, autoescape=True),
            )
        )
    if district:
        where.append(v.district == district)
    if kind:
        where.append(v.kind == kind)
    return where


def _scoped(query: Any, scope: frozenset[str] | None) -> Any:
    return query if scope is None else query.where(col(Venue.id).in_(scope))


def totals(conn: Connection, venues: Any) -> dict[str, int]:
    """Venues, devices and open alerts over every venue the filters select (all pages), in
    one round trip: on PostgreSQL each query is one."""
    d, a = raw.table(Device).c, raw.table(Alert).c
    in_service = and_(d.status != "decommissioned", d.venue_id.in_(venues))
    open_alerts = and_(a.status != AlertStatus.RESOLVED.value, a.venue_id.in_(venues))
    row = conn.execute(
        select(
            select(func.count()).select_from(venues.subquery()).scalar_subquery(),
            select(func.count()).where(in_service).scalar_subquery(),
            select(func.sum(func.cast(d.online, Integer))).where(in_service).scalar_subquery(),
            select(func.count()).where(open_alerts).scalar_subquery(),
        )
    ).one()
    found, total, online, alerts = row
    return {
        "venues": int(found),
        "devices": int(total or 0),
        "online": int(online or 0),
        "alerts": int(alerts or 0),
    }


def figures_url(venues: list[str], **filters: str) -> str:
    """Where a page fetches its figures: its venues, and the filters of its totals."""
    query = {"venues": ",".join(venues)} | {k: v for k, v in filters.items() if v}
    return f"/live/figures?{urlencode(query)}"


def _total_figures(found: dict[str, int]) -> dict[str, int | str]:
    return {
        "total:venues": found["venues"],
        "total:online": f"{found['online']} / {found['devices']}",
        "total:alerts": found["alerts"],
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
    where = _filters(q, district, kind)
    with engine.connect() as conn:
        base = _scoped(select(Venue), scope).where(*where)
        found_totals = totals(conn, _scoped(select(v.id), scope).where(*where))
        count = found_totals["venues"]
        found = [
            Venue.model_validate(row._mapping)
            for row in conn.execute(
                base.order_by(v.district, v.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)
            )
        ]
        pairs = conn.execute(_scoped(select(v.district, v.kind).distinct(), scope)).all()
        districts = sorted({d for d, _k in pairs if d})
        kinds = sorted({k for _d, k in pairs})
        rows = venue_rows(conn, found, now=now, quiet_hour=web_state(request).quiet_hour)
    pages = max(1, -(-count // PAGE_SIZE))
    return render(
        request,
        viewer,
        "overview.html",
        # Only this page's venues, and only what its rows show: with hundreds of venues
        # reporting temperatures every few seconds, "venue" news would move it nonstop.
        # Every one of them changes figures in place; nothing re-renders the page.
        live="",
        live_figures=" ".join(
            f"{kind}:{row.venue.id}"
            for row in rows
            for kind in ("traffic", "occupancy", "alerts", "devices")
        ),
        figures_src=figures_url(
            [r.venue.id for r in rows], totals="1", q=q, district=district, kind=kind
        ),
        live_gap_ms=3000,
        rows=rows,
        totals=found_totals | {"inside": sum(r.inside for r in rows)},
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


def _json(body: dict[str, Any], status_code: int = 200) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status_code=status_code,
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/live/figures")
def figures(
    *,
    request: Request,
    viewer: Staff,
    engine: EngineDep,
    now: NowDep,
    venues: Annotated[str, Query(max_length=8000)] = "",
    totals_of: Annotated[str, Query(alias="totals", max_length=1)] = "",
    energy: Annotated[str, Query(max_length=1)] = "",
    q: Annotated[str, Query(max_length=60)] = "",
    district: Annotated[str, Query(max_length=60)] = "",
    kind: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """``{"figures": {"<venue>:<name>": value}}`` for the viewer's venues among ``venues``
    (comma-separated; others are left out), and with ``totals=1`` the totals the overview
    shows under the same filters (``energy=1``: today's kWh over the venues). What the
    live pages write into their ``data-fig``."""
    wanted = list(dict.fromkeys(v for v in venues.split(",") if v))
    if len(wanted) > MAX_FIGURE_VENUES:
        message = web_state(request).catalog.text(viewer.lang, "fig.too_many", n=MAX_FIGURE_VENUES)
        return _json({"error": {"code": "too_many_venues", "message": message}}, 422)
    scope = viewer.principal.venue_filter()
    v = raw.table(Venue).c
    with engine.connect() as conn:
        found = [
            Venue.model_validate(row._mapping)
            for row in conn.execute(_scoped(select(Venue), scope).where(v.id.in_(wanted)))
        ]
        out: dict[str, Any] = {}
        for row in venue_rows(conn, found, now=now, quiet_hour=web_state(request).quiet_hour):
            out |= row.figures()
        if energy == "1":  # the wall screen's total: today's kWh over its venues
            out["total:energy"] = energy_today(conn, found, now)
        if totals_of == "1":
            filtered = _scoped(select(v.id), scope).where(*_filters(q, district, kind))
            out |= _total_figures(totals(conn, filtered))
    return _json({"figures": out})
