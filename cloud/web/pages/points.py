"""The points page: the kiosk catalog, stock per kiosk slot (restocked in place), redemptions.

Restocking calls the API's own ``POST /api/v1/kiosks/{id}/slots/{n}/restock`` with the
sign-in cookie, so who may restock which kiosk is decided in one place. The redemptions
report counts by the venue-local calendar day: "today" at a venue starts at its midnight.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Integer, String, and_, cast, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from cloud.aggregates import raw
from cloud.aggregates.timezones import DEFAULT_ZONE, venue_zone
from cloud.api.deps import NowDep, SessionDep
from cloud.core.cells import csv_cell
from cloud.core.time import as_utc
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.points import catalog, low_stock
from cloud.points.catalog_models import KioskSlot, MovementKind, Product, StockMovement
from cloud.points.models import Redemption, RedemptionState
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Staff

router = APIRouter(include_in_schema=False)
Period = Literal["today", "7d", "30d"]
_DAYS: Final[dict[str, int]] = {"today": 1, "7d": 7, "30d": 30}
# Kiosks per page: each shows all its slots, so a page stays a few hundred rows at most.
KIOSK_PAGE: Final = 20
# The catalog is a district's handful of items; past this the page says it shows a part.
CATALOG_LIMIT: Final = 200
_SETTLED: Final = (
    RedemptionState.COMMITTED.value,
    RedemptionState.CANCELLED.value,
    RedemptionState.EXPIRED.value,
)

TEXT: Final[Messages] = {
    "points.title": ("积分与兑换", "Points and kiosks"),
    "points.venue": ("阵地", "Venue"),
    "points.low_only": ("只看缺货", "Low stock only"),
    "points.catalog": ("商品目录", "Catalog"),
    "points.catalog_part": ("显示前 {shown} 个，共 {count} 个", "Showing {shown} of {count}"),
    "points.product": ("商品", "Item"),
    "points.price": ("所需积分", "Points"),
    "points.active": ("状态", "Status"),
    "points.on_sale": ("在售", "on sale"),
    "points.off_sale": ("已下架", "withdrawn"),
    "points.no_products": ("还没有商品", "No items in the catalog yet"),
    "points.stock": ("库存", "Stock"),
    "points.kiosk": ("兑换机 {id}", "Kiosk {id}"),
    "points.offline": ("离线", "offline"),
    "points.online": ("在线", "online"),
    "points.slot": ("货道", "Slot"),
    "points.in_slot": ("库存 / 容量", "In slot / capacity"),
    "points.threshold": ("缺货提醒", "Low at"),
    "points.no_product": ("未设置商品", "No item set"),
    "points.no_slots": ("这台兑换机还没有设置货道", "This kiosk has no slots set up"),
    "points.no_kiosks": ("没有兑换机", "No kiosks here"),
    "points.low": ("库存不足", "low"),
    "points.empty": ("已售完", "sold out"),
    "points.full": ("已满", "full"),
    "points.quantity": ("补货数量", "Items added"),
    "points.restock": ("补货", "Restock"),
    "points.restocked": ("已补货，现有 {stock_after} 件", "Restocked: {stock_after} in the slot"),
    "points.redemptions": ("兑换统计", "Redemptions"),
    "points.period": ("时间范围", "Period"),
    "points.period.today": ("今天", "Today"),
    "points.period.7d": ("近 7 天", "Last 7 days"),
    "points.period.30d": ("近 30 天", "Last 30 days"),
    "points.show": ("查看", "Show"),
    "points.csv": ("下载 CSV", "Download CSV"),
    "points.committed": ("兑换次数", "Redeemed"),
    "points.spent": ("消耗积分", "Points spent"),
    "points.cancelled": ("已取消（积分退回）", "Cancelled (points back)"),
    "points.expired": ("超时退回", "Timed out (points back)"),
    "points.review": ("待核对", "To check"),
    "points.review_hint": (
        "出货但积分未正常结算的兑换，请到兑换机核对库存",
        "Items that left a kiosk without a normal settlement: recount that kiosk",
    ),
    "points.by_venue": ("按阵地", "By venue"),
    "points.by_product": ("按商品", "By item"),
    "points.unknown_product": ("未知商品", "Unknown item"),
    "points.total": ("合计", "Total"),
    "points.no_redemptions": ("这段时间没有兑换", "No redemptions in this period"),
}


@dataclass(frozen=True, slots=True)
class SlotRow:
    slot: KioskSlot
    product: Product | None

    @property
    def low(self) -> bool:
        return low_stock.is_low(self.slot)

    @property
    def room(self) -> int:
        return self.slot.capacity - self.slot.stock


@dataclass(frozen=True, slots=True)
class KioskStock:
    kiosk: Device
    slots: list[SlotRow]


@dataclass(slots=True)
class Tally:
    """Redemptions settled in the period: committed (with their points), and given back."""

    committed: int = 0
    points: int = 0
    cancelled: int = 0
    expired: int = 0
    review: int = 0

    def add(self, state: str, *, count: int, points: int, review: int) -> None:
        if state == RedemptionState.COMMITTED:
            self.committed += count
            self.points += points
        elif state == RedemptionState.CANCELLED:
            self.cancelled += count
        elif state == RedemptionState.EXPIRED:
            self.expired += count
        self.review += review


@dataclass(slots=True)
class Report:
    by_venue: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_product: dict[int | None, Tally] = field(default_factory=lambda: defaultdict(Tally))
    total: Tally = field(default_factory=Tally)

    def venues(self) -> list[tuple[str, Tally]]:
        return sorted(self.by_venue.items(), key=lambda item: (-item[1].points, item[0]))

    def products(self) -> list[tuple[int | None, Tally]]:
        return sorted(self.by_product.items(), key=lambda item: (-item[1].points, item[0] or 0))


def period_start(now: datetime, tz: str | None, period: Period) -> datetime:
    """The UTC instant of the venue-local midnight that opens ``period``."""
    zone = venue_zone(tz)
    first = as_utc(now).astimezone(zone).date() - timedelta(days=_DAYS[period] - 1)
    # In UTC: SQLite keeps no offset, so a bound local time would compare as the wrong hour.
    return as_utc(datetime.combine(first, time(0), tzinfo=zone))


def _report_query(venue_ids: Sequence[str], start: datetime) -> Any:
    r, d = raw.table(Redemption).c, raw.table(Device).c
    take = raw.table(StockMovement).alias("take")
    slot = raw.table(KioskSlot).alias("slot")
    # What the item was: the product its take logged, else what its slot holds now (a
    # cancelled redemption took nothing). Slot numbers are text in a redemption.
    product = func.coalesce(take.c.product_id, slot.c.product_id)
    when = func.coalesce(r.settled_at, r.reserved_at)
    joined = (
        raw.table(Redemption)
        .join(raw.table(Device), d.id == r.kiosk_id)
        .outerjoin(
            take,
            and_(
                take.c.transaction_id == r.transaction_id,
                take.c.kind == MovementKind.TAKE.value,
            ),
        )
        .outerjoin(slot, and_(slot.c.kiosk_id == r.kiosk_id, cast(slot.c.slot, String) == r.slot))
    )
    return (
        core_select(
            d.venue_id,
            product,
            r.state,
            func.count(),
            func.coalesce(func.sum(r.price), 0),
            func.coalesce(func.sum(cast(r.needs_review, Integer)), 0),
        )
        .select_from(joined)
        .where(d.venue_id.in_(venue_ids), when >= start, r.state.in_(_SETTLED))
        .group_by(d.venue_id, product, r.state)
    )


def redemption_report(
    session: Session, venues: Iterable[Venue], *, period: Period, now: datetime
) -> Report:
    """One grouped query per time zone among ``venues`` (usually one: China time)."""
    zones: dict[str, list[str]] = defaultdict(list)
    for venue in venues:
        zones[venue.timezone or DEFAULT_ZONE].append(venue.id)
    report = Report()
    conn = session.connection()
    for zone, ids in zones.items():
        start = period_start(now, zone, period)
        for venue_id, product_id, state, count, points, review in conn.execute(
            _report_query(ids, start)
        ):
            for tally in (report.by_venue[venue_id], report.by_product[product_id], report.total):
                tally.add(state, count=int(count), points=int(points), review=int(review))
    return report


def kiosk_stock(
    session: Session, venue_ids: Sequence[str], *, low_only: bool, page: int
) -> tuple[list[KioskStock], int]:
    """A page of the kiosks of ``venue_ids`` with their slots (only low ones if asked)."""
    low = and_(
        col(KioskSlot.product_id).is_not(None),
        col(KioskSlot.stock) <= col(KioskSlot.low_stock_threshold),
    )
    where = [
        col(Device.role) == "kiosk",
        col(Device.status) != "decommissioned",
        col(Device.venue_id).in_(venue_ids),
    ]
    if low_only:
        where.append(col(Device.id).in_(select(KioskSlot.kiosk_id).where(low)))
    count = session.exec(select(func.count()).select_from(Device).where(*where)).one()
    kiosks = session.exec(
        select(Device)
        .where(*where)
        .order_by(col(Device.venue_id), col(Device.id))
        .offset((page - 1) * KIOSK_PAGE)
        .limit(KIOSK_PAGE)
    ).all()
    slot_query = (
        select(KioskSlot, Product)
        .outerjoin(Product, col(Product.id) == col(KioskSlot.product_id))
        .where(col(KioskSlot.kiosk_id).in_([k.id for k in kiosks]))
        .order_by(col(KioskSlot.kiosk_id), col(KioskSlot.slot))
    )
    if low_only:
        slot_query = slot_query.where(low)
    slots: dict[str, list[SlotRow]] = defaultdict(list)
    for slot, product in session.exec(slot_query):
        slots[slot.kiosk_id].append(SlotRow(slot, product))
    return [KioskStock(k, slots.get(k.id, [])) for k in kiosks], count


def _visible_venues(session: Session, viewer: Staff) -> dict[str, Venue]:
    query = select(Venue).order_by(col(Venue.id))
    scope = viewer.principal.venue_filter()
    if scope is not None:
        query = query.where(col(Venue.id).in_(scope))
    return {v.id: v for v in session.exec(query)}


def _products(session: Session, ids: Iterable[int | None]) -> dict[int, Product]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    found = session.exec(select(Product).where(col(Product.id).in_(wanted)))
    return {p.id: p for p in found if p.id is not None}


@router.get("/points", response_class=HTMLResponse)
def points_page(
    *,
    request: Request,
    viewer: Staff,
    session: SessionDep,
    now: NowDep,
    venue: Annotated[str, Query(max_length=32)] = "",
    period: Period = "7d",
    low: bool = False,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    venues = _visible_venues(session, viewer)
    chosen = [v for v in venues.values() if not venue or v.id == venue]
    products, product_count = catalog.list_products(
        session=session, active=None, limit=CATALOG_LIMIT, offset=0
    )
    kiosks, kiosk_count = kiosk_stock(session, [v.id for v in chosen], low_only=low, page=page)
    report = redemption_report(session, chosen, period=period, now=now)
    return render(
        request,
        viewer,
        "points.html",
        live="venue devices",
        live_gap_ms=3000,
        venues=venues,
        venue=venue,
        period=period,
        periods=list(_DAYS),
        low=low,
        page=page,
        pages=max(1, -(-kiosk_count // KIOSK_PAGE)),
        kiosk_count=kiosk_count,
        products=products,
        product_count=product_count,
        report_products=_products(session, report.by_product),
        kiosks=kiosks,
        report=report,
    )


@router.get("/points/redemptions.csv")
def redemptions_csv(
    *,
    viewer: Staff,
    session: SessionDep,
    now: NowDep,
    venue: Annotated[str, Query(max_length=32)] = "",
    period: Period = "7d",
) -> Response:
    """The per-venue report as a spreadsheet (UTF-8 with BOM: Excel then reads the names)."""
    venues = _visible_venues(session, viewer)
    chosen = [v for v in venues.values() if not venue or v.id == venue]
    report = redemption_report(session, chosen, period=period, now=now)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["venue_id", "venue", "redeemed", "points", "cancelled", "expired", "needs_review"]
    )
    for venue_id, tally in sorted(report.by_venue.items()):
        name = venues[venue_id].name if venue_id in venues else ""
        row = (venue_id, name, tally.committed, tally.points, tally.cancelled, tally.expired)
        writer.writerow([csv_cell(value) for value in (*row, tally.review)])
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="redemptions-{period}.csv"',
            "Cache-Control": "no-store",
        },
    )
