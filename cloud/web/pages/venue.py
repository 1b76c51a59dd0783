"""One venue: people inside, devices, alerts, four charts, recent door decisions, kiosk stock,
and its public profile (what the workers' phone app shows), which an admin edits here.

The figures come from the code the overview and the API use (``venue_rows``,
``access_events``), so this page never counts visits or pseudonymizes members its own
way. The charts are drawn in the browser (static/charts.js) from the aggregates API, which
the browser calls with the sign-in cookie like any other reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from cloud.access.events import AccessFilter, access_events
from cloud.aggregates.occupancy import LIVE_CLOCK_SKEW
from cloud.aggregates.timezones import DAY, day_bounds, floor_hour, local_date, venue_zone
from cloud.alerts.models import SensorRole
from cloud.api.auth_deps import scoped_venue
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.core.time import as_utc
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.points.catalog import list_slots
from cloud.points.catalog_models import KioskSlot, Product
from cloud.points.low_stock import is_low
from cloud.web.i18n import Messages
from cloud.web.pages.overview import venue_rows
from cloud.web.render import render
from cloud.web.session import Staff
from cloud.web.state import web_state
from cloud.worker.profile import AMENITIES

router = APIRouter(include_in_schema=False)

RECENT_ACCESS: Final = 20
# The API's longest access-event window (31 days): a quiet library still shows its last visits.
ACCESS_LOOKBACK: Final = timedelta(days=30)
ENERGY_DAYS: Final = 14
# Decisions that open the door (edge/access/reasons.py OPENS); the cloud does not import edge.
OPENS: Final = frozenset({"accepted", "remote_unlock", "emergency"})
KIOSK_ROLE: Final = "kiosk"

TEXT: Final[Messages] = {
    "venue.id": ("编号", "Id"),
    "venue.district": ("所属区", "District"),
    "venue.kind": ("类型", "Kind"),
    "venue.timezone": ("时区", "Time zone"),
    "venue.local_now": ("当地时间 {at}", "local time {at}"),
    "venue.inside": ("当前在场", "Inside now"),
    "venue.capacity": ("容量", "Capacity"),
    "venue.capacity_unset": ("未设置", "not set"),
    "venue.over": ("超员", "over capacity"),
    "venue.visits_today": ("今日到访", "Visits today"),
    "venue.devices_online": ("设备在线", "Devices online"),
    "venue.open_alerts": ("未处理告警", "Open alerts"),
    "venue.charts": ("趋势", "Trends"),
    "venue.chart.occupancy": ("今日在场人数（每小时）", "People inside today (hourly)"),
    "venue.chart.traffic": ("今日每小时进出与到访", "In, out and visits per hour today"),
    "venue.chart.energy": ("近 14 天每日用电（千瓦时）", "Energy per day, last 14 days (kWh)"),
    "venue.chart.temperature": ("近 24 小时温度（°C）", "Temperatures, last 24 h (°C)"),
    "venue.chart.empty": ("暂无数据", "No data yet"),
    "venue.chart.error": ("图表加载失败，请刷新页面", "The chart could not load; reload the page"),
    "venue.series.count": ("在场人数", "Inside"),
    "venue.series.in": ("进入", "In"),
    "venue.series.out": ("离开", "Out"),
    "venue.series.visits": ("会员到访", "Member visits"),
    "venue.series.kwh": ("用电量", "Energy"),
    "venue.sensor.fridge": ("冰箱", "Fridge"),
    "venue.sensor.ambient": ("环境", "Ambient"),
    "venue.access": ("最近门禁记录", "Recent door decisions"),
    "venue.access.time": ("时间", "Time"),
    "venue.access.door": ("门禁设备", "Door"),
    "venue.access.decision": ("结果", "Decision"),
    "venue.access.reason": ("原因", "Reason"),
    "venue.access.member": ("会员", "Member"),
    "venue.access.opened": ("开门", "Opened"),
    "venue.access.refused": ("未开门", "Refused"),
    "venue.access.none": ("最近 30 天没有门禁记录", "No door decisions in the last 30 days"),
    "venue.access.pseudonymized": (
        "会员编号已匿名化：同一会员始终显示同一代号",
        "Member ids are pseudonymized: the same member always shows the same code",
    ),
    "venue.reason.accepted": ("验证通过", "accepted"),
    "venue.reason.remote_unlock": ("远程开门", "remote unlock"),
    "venue.reason.emergency": ("紧急开门", "emergency unlock"),
    "venue.reason.malformed": ("无法识别的码", "unreadable code"),
    "venue.reason.not_member_code": ("非会员码", "not a member code"),
    "venue.reason.unsupported": ("会员码版本过旧", "code version not supported"),
    "venue.reason.unknown_key": ("签发密钥未知", "unknown issuer key"),
    "venue.reason.bad_signature": ("签名无效", "bad signature"),
    "venue.reason.expired": ("会员码已过期", "code expired"),
    "venue.reason.not_yet_valid": ("会员码尚未生效", "code not yet valid"),
    "venue.reason.revoked": ("会员资格已停用", "membership revoked"),
    "venue.reason.membership_expired": ("会员资格已到期", "membership lapsed"),
    "venue.reason.replayed": ("重复使用的码", "code replayed"),
    "venue.reason.outside_hours": ("不在开放时间", "outside opening hours"),
    "venue.reason.full": ("已满员", "venue full"),
    "venue.reason.over_capacity": ("超员", "over capacity"),
    "venue.reason.passback": ("重复刷码", "scanned again too soon"),
    "venue.reason.not_booked": ("未预约", "not booked"),
    "venue.reason.group_required": ("非指定会员群体", "member group not allowed"),
    "venue.reason.stale_cache": ("设备数据过期", "door data out of date"),
    "venue.reason.no_keys": ("设备未配置密钥", "door has no keys"),
    "venue.stock": ("自助兑换机库存", "Kiosk stock"),
    "venue.stock.kiosk": ("兑换机 {id}", "Kiosk {id}"),
    "venue.stock.slot": ("货道", "Slot"),
    "venue.stock.product": ("商品", "Product"),
    "venue.stock.count": ("库存 / 容量", "Stock / capacity"),
    "venue.stock.state": ("状态", "State"),
    "venue.stock.ok": ("充足", "in stock"),
    "venue.stock.low": ("库存不足", "low"),
    "venue.stock.empty": ("已售空", "empty"),
    "venue.stock.unused": ("未放商品", "no product"),
    "venue.stock.no_slots": ("尚未配置货道", "No slots set up yet"),
    "venue.stock.none": ("该阵地没有兑换机", "This venue has no kiosk"),
    "venue.stock.offline": ("离线", "offline"),
    "venue.profile": ("对外信息", "Public profile"),
    "venue.profile.help": (
        "户外劳动者在手机上找驿站时看到的内容。",
        "What outdoor workers see of this venue when they look for a station on their phone.",
    ),
    "venue.profile.address": ("地址", "Address"),
    "venue.profile.description": ("简介", "Description"),
    "venue.profile.latitude": ("纬度", "Latitude"),
    "venue.profile.longitude": ("经度", "Longitude"),
    "venue.profile.location_help": (
        "纬度和经度要么都填，要么都不填；用于“附近的驿站”。",
        "Give both or neither; the phone app uses them for stations near the worker.",
    ),
    "venue.profile.amenities": ("设施", "Amenities"),
    "venue.profile.hours": ("开放时间（每行一条）", "Opening hours (one line each)"),
    "venue.profile.hours_help": (
        "例如 mon-fri 07:00-22:00 或 daily 00:00-24:00；不填即全天开放。",
        "Like mon-fri 07:00-22:00 or daily 00:00-24:00; none means open 24 hours.",
    ),
    "venue.profile.hours_none": ("全天开放", "Open 24 hours"),
    "venue.profile.admits_guests": (
        "接待访客（扫码登记的新朋友凭访客通行证入站）",
        "Admits guests (walk-ins who registered by the poster get in with a guest pass)",
    ),
    "venue.profile.guests": ("访客", "Guests"),
    "venue.profile.guests_yes": ("接待", "Admitted"),
    "venue.profile.guests_no": ("不接待", "Not admitted"),
    "venue.profile.save": ("保存", "Save"),
    "venue.profile.saved": ("已保存", "Saved"),
    "venue.profile.poster": ("打印入场海报", "Print the walk-in poster"),
}


@dataclass(frozen=True, slots=True)
class Charts:
    """The API address each chart draws from, with the window already in it."""

    occupancy: str
    traffic: str
    energy: str
    temperature: str


@dataclass(frozen=True, slots=True)
class StockRow:
    slot: KioskSlot
    product: Product | None

    @property
    def state(self) -> str:
        """ok | low | empty | unused (a slot holding no product has nothing to run out of)."""
        if self.slot.product_id is None:
            return "unused"
        if self.slot.stock == 0:
            return "empty"
        return "low" if is_low(self.slot) else "ok"


@dataclass(frozen=True, slots=True)
class Kiosk:
    device: Device
    slots: list[StockRow]


def _iso(value: datetime, zone: ZoneInfo) -> str:
    return as_utc(value).astimezone(zone).isoformat()


def chart_sources(venue: Venue, *, now: datetime) -> Charts:
    zone = venue_zone(venue.timezone)
    today = local_date(now, zone)
    midnight = _iso(day_bounds(today, zone)[0], zone)
    base = f"/api/v1/venues/{quote(venue.id, safe='')}"

    def url(path: str, **query: str | int) -> str:
        return f"{base}/{path}?{urlencode(query)}"

    # Whole hours and days: the addresses stay the same between live refreshes of the page,
    # so the browser can reuse what it fetched a moment ago.
    first_day = day_bounds(today - timedelta(days=ENERGY_DAYS - 1), zone)[0]
    return Charts(
        occupancy=url("occupancy/history", since=midnight, limit=48),
        traffic=url("traffic", resolution="hour", since=midnight, limit=48),
        energy=url("energy", since=_iso(first_day, zone), limit=ENERGY_DAYS + 2),
        temperature=url("temperature", since=_iso(floor_hour(now) - DAY, zone), limit=1000),
    )


def sensor_names(session: Session, venue_id: str) -> dict[str, dict[str, str]]:
    """``device/sensor`` -> its role (fridge, ambient) and label, for the chart's legend."""
    rows = session.exec(select(SensorRole).where(SensorRole.venue_id == venue_id))
    return {f"{r.device_id}/{r.sensor}": {"role": r.role, "label": r.label or ""} for r in rows}


def kiosks(session: Session, venue_id: str) -> list[Kiosk]:
    devices = session.exec(
        select(Device)
        .where(
            Device.venue_id == venue_id,
            Device.role == KIOSK_ROLE,
            Device.status != "decommissioned",
        )
        .order_by(col(Device.id))
    ).all()
    slots = {d.id: list_slots(session=session, kiosk_id=d.id) for d in devices}
    wanted = {s.product_id for rows in slots.values() for s in rows if s.product_id is not None}
    products: dict[int | None, Product] = {}
    if wanted:
        products = {
            p.id: p for p in session.exec(select(Product).where(col(Product.id).in_(wanted)))
        }
    return [
        Kiosk(d, [StockRow(s, products.get(s.product_id)) for s in slots[d.id]]) for d in devices
    ]


@router.get("/venues/{venue_id}", response_class=HTMLResponse)
def venue_page(
    *,
    venue_id: str,
    request: Request,
    viewer: Staff,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
) -> HTMLResponse:
    venue = scoped_venue(session=session, principal=viewer.principal, venue_id=venue_id)
    (row,) = venue_rows(
        session.connection(), [venue], now=now, quiet_hour=web_state(request).quiet_hour
    )
    access = access_events(
        session=session,
        principal=viewer.principal,
        wanted=AccessFilter(
            since=as_utc(now) - ACCESS_LOOKBACK,
            # A door clock a little ahead of ours still shows its newest decision.
            until=as_utc(now) + LIVE_CLOCK_SKEW,
            venue_id=venue.id,
        ),
        pseudonym_key=state.auth.pseudonym_key,
        limit=RECENT_ACCESS,
    )
    # traffic: door decisions and counters. Not "venue" (every temperature sample): the
    # charts are hourly and daily, and redrawing them every few seconds would flicker.
    kinds = ("traffic", "occupancy", "alerts", "devices")
    topics = " ".join(f"{kind}:{venue.id}" for kind in kinds)
    return render(
        request,
        viewer,
        "venue.html",
        live=topics,
        live_gap_ms=2000,
        venue=venue,
        row=row,
        charts=chart_sources(venue, now=now),
        sensors=sensor_names(session, venue.id),
        access=access,
        opens=OPENS,
        kiosks=kiosks(session, venue.id),
        amenities=AMENITIES,
        now=now,
    )
