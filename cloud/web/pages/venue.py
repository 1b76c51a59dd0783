"""One venue: people inside, devices, alerts, four charts, recent door decisions, kiosk stock,
and its public profile (what the workers' phone app shows), which an admin edits here.

The figures come from the code the overview and the API use (``venue_rows``,
``access_events``), so this page never counts visits or pseudonymizes members its own
way. The charts are drawn in the browser (static/charts.js) from the aggregates API, which
the browser calls with the sign-in cookie like any other reader, over the days the page's
range picker chose (``?from=…&to=…``, the venue's local days; the address can be shared).

Live: the figures change in place (``GET /live/figures``), the charts take new data in
place, and the door log and kiosk stock re-render alone (``?part=access|kiosks``) at most
every half minute: a busy door must not re-render the page every second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlmodel import Session, col, select

from cloud.access.events import AccessFilter, access_events
from cloud.aggregates.models import OccupancyHourly
from cloud.aggregates.occupancy import LIVE_CLOCK_SKEW
from cloud.aggregates.timezones import DAY, day_bounds, floor_hour, local_date, venue_zone
from cloud.alerts.engine import RuleBook
from cloud.alerts.models import AlertKind, AlertRule, SensorRole
from cloud.api.auth_deps import scoped_venue
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.core.time import as_utc
from cloud.devices.models import Device
from cloud.models import Venue
from cloud.points.catalog import list_slots
from cloud.points.catalog_models import KioskSlot, Product
from cloud.points.low_stock import is_low
from cloud.web.i18n import Messages
from cloud.web.pages.overview import figures_url, venue_rows
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
    "venue.inside": ("在场人数", "People inside"),
    "venue.capacity": ("容量", "Capacity"),
    "venue.capacity_unset": ("未设置", "not set"),
    "venue.over": ("超员", "over capacity"),
    "venue.visits_today": ("今日到访人次", "Visits today"),
    "venue.devices_online": ("设备在线", "Devices online"),
    "venue.open_alerts": ("未处理告警", "Open alerts"),
    "venue.charts": ("趋势", "Trends"),
    "venue.chart.occupancy": ("在场人数（每小时）", "People inside (hourly)"),
    "venue.chart.traffic": ("进入人次、离开与到访人次", "Entries, exits and visits"),
    "venue.chart.energy": ("每日用电（千瓦时）", "Energy per day (kWh)"),
    "venue.chart.temperature": ("温度（°C，每小时平均）", "Temperatures (°C, hourly average)"),
    "venue.chart.temperature_clipped": (
        "所选范围较长，温度只显示最后 {days} 天",
        "A long range: temperatures show its last {days} days",
    ),
    "venue.entries_today": ("今日进入人次", "Entries today"),
    "venue.range": ("日期范围", "Dates"),
    "venue.range.from": ("从", "From"),
    "venue.range.to": ("到", "To"),
    "venue.range.show": ("查看", "Show"),
    "venue.range.today": ("今天", "Today"),
    "venue.range.yesterday": ("昨天", "Yesterday"),
    "venue.range.7d": ("近 7 天", "7 days"),
    "venue.range.30d": ("近 30 天", "30 days"),
    "venue.range.bad_date": (
        "日期格式应为 年-月-日（如 2025-06-01），已显示今天",
        "Dates are year-month-day (like 2025-06-01); showing today",
    ),
    "venue.range.reversed": (
        "结束日期早于开始日期，已对调",
        "The end came before the start; they were swapped",
    ),
    "venue.range.too_long": (
        "一次最多查看 {days} 天，已显示结束日期前的 {days} 天",
        "At most {days} days at once; showing the {days} days up to the end date",
    ),
    "venue.range.future": ("不能查看未来的日期，已截止到今天", "No future dates; cut at today"),
    "venue.history_since": (
        "在场人数记录始于 {day}（每小时汇总长期保存）",
        "Occupancy history starts on {day} (hourly rollups are kept for good)",
    ),
    "venue.history_none": ("尚无在场人数记录", "No occupancy history yet"),
    "venue.sensor.outdoor": ("室外", "Outdoor"),
    "venue.sensor.probe": ("探头", "Probe"),
    "venue.chart.limit": ("冰箱上限", "Fridge limit"),
    "venue.chart.empty": ("暂无数据", "No data yet"),
    "venue.chart.error": ("图表加载失败，请刷新页面", "The chart could not load; reload the page"),
    "venue.series.count": ("在场人数", "People inside"),
    "venue.series.in": ("进入人次（计数器）", "Entries (counter)"),
    "venue.series.out": ("离开（计数器）", "Exits (counter)"),
    "venue.series.visits": ("到访人次（门禁放行）", "Visits (admitted)"),
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
    temperature_days: int  # how many of the range's days the temperature chart shows


@dataclass(frozen=True, slots=True)
class DayRange:
    """The venue-local days the charts show, both ends included; ``problem`` is the TEXT
    key of what was wrong with the address's dates (the page says what it did instead)."""

    first: date
    last: date
    preset: str = ""
    problem: str = ""

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


PRESETS: Final = ("today", "yesterday", "7d", "30d")
# The API's hourly answers span at most 93 days: a quarter, and a bit.
MAX_RANGE_DAYS: Final = 92
TEMPERATURE_DAYS: Final = 7  # hourly averages of a few probes: past a week, 1000 rows run out
ACCESS_PART_GAP_MS: Final = 30_000  # a busy door's log re-renders at most twice a minute
KIOSK_PART_GAP_MS: Final = 60_000


def _preset(today: date, preset: str) -> DayRange:
    if preset == "yesterday":
        return DayRange(today - timedelta(days=1), today - timedelta(days=1), preset)
    if preset in ("7d", "30d"):
        return DayRange(today - timedelta(days=int(preset[:-1]) - 1), today, preset)
    return DayRange(today, today, "today")


def pick_range(today: date, *, preset: str, first: str, last: str) -> DayRange:
    """The range the address asks for: a preset, or from/to dates (either may be left out)."""
    if not (first or last):
        return _preset(today, preset if preset in PRESETS else "today")
    try:
        start = date.fromisoformat(first or last)
        end = date.fromisoformat(last or first)
    except ValueError:
        return DayRange(today, today, "today", "venue.range.bad_date")
    problem = ""
    if end < start:
        start, end, problem = end, start, "venue.range.reversed"
    if end > today:
        end, problem = today, "venue.range.future"
        start = min(start, end)
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        start, problem = end - timedelta(days=MAX_RANGE_DAYS - 1), "venue.range.too_long"
    same = (_preset(today, p) for p in PRESETS)
    chosen = next((r.preset for r in same if (r.first, r.last) == (start, end)), "")
    return DayRange(start, end, chosen, problem)


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


def chart_sources(venue: Venue, *, now: datetime, days: DayRange | None = None) -> Charts:
    zone = venue_zone(venue.timezone)
    today = local_date(now, zone)
    days = days or DayRange(today, today, "today")
    since, until = day_bounds(days.first, zone)[0], day_bounds(days.last, zone)[1]
    base = f"/api/v1/venues/{quote(venue.id, safe='')}"

    def url(path: str, **query: str | int) -> str:
        return f"{base}/{path}?{urlencode(query)}"

    # Whole local days: the addresses stay the same between live updates of the page, so
    # the browser can reuse what it fetched a moment ago.
    hours = days.days * 24 + 2
    hourly = days.days <= 2
    energy_days = max(days.days, ENERGY_DAYS)
    first_energy = day_bounds(days.last - timedelta(days=energy_days - 1), zone)[0]
    temperature_days = min(days.days, TEMPERATURE_DAYS)
    first_temperature = day_bounds(days.last - timedelta(days=temperature_days - 1), zone)[0]
    return Charts(
        occupancy=url(
            "occupancy/history",
            since=_iso(since, zone),
            until=_iso(until, zone),
            limit=min(1000, hours),
        ),
        traffic=url(
            "traffic",
            resolution="hour" if hourly else "day",
            since=_iso(since, zone),
            until=_iso(until, zone),
            limit=hours if hourly else days.days + 2,
        ),
        energy=url(
            "energy",
            since=_iso(first_energy, zone),
            until=_iso(until, zone),
            limit=energy_days + 2,
        ),
        temperature=url(
            "temperature",
            # Today's chart keeps its last 24 hours: a fridge at 7 a.m. has a night behind it.
            since=_iso(
                floor_hour(now) - DAY if days.preset == "today" else first_temperature, zone
            ),
            until=_iso(until, zone),
            limit=1000,
        ),
        temperature_days=temperature_days,
    )


def history_since(session: Session, venue_id: str) -> datetime | None:
    """The first hour of the venue's stored occupancy history (rollups are never pruned)."""
    hourly = OccupancyHourly.__table__.c  # type: ignore[attr-defined]
    first: datetime | None = session.execute(
        select(func.min(hourly.hour_utc)).where(hourly.venue_id == venue_id)
    ).scalar_one_or_none()
    return first


def fridge_limit(
    session: Session, venue_id: str, sensors: dict[str, dict[str, str]]
) -> float | None:
    """The fridge rule's threshold in force at the venue, when one of its probes is a fridge."""
    if not any(s["role"] == "fridge" for s in sensors.values()):
        return None
    rows = session.exec(
        select(AlertRule).where(
            AlertRule.kind == AlertKind.FRIDGE_WARM.value,
            (col(AlertRule.venue_id) == venue_id) | col(AlertRule.venue_id).is_(None),
        )
    ).all()
    rule = RuleBook(rows).get(venue_id, AlertKind.FRIDGE_WARM)
    return None if rule is None else rule.threshold


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


PARTS: Final = ("access", "kiosks")


def _recent_access(
    session: Session, viewer: Staff, venue: Venue, *, state: StateDep, now: datetime
) -> Any:
    return access_events(
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


def _part(request: Request, viewer: Staff, venue: Venue, part: str, **context: Any) -> HTMLResponse:
    """One part of the page alone: its block of venue.html under a layout that has only
    that block, so the markup lives in one place."""
    return render(
        request, viewer, "venue.html", layout=f"venue_part_{part}.html", venue=venue, **context
    )


@router.get("/venues/{venue_id}", response_class=HTMLResponse)
def venue_page(
    *,
    venue_id: str,
    request: Request,
    viewer: Staff,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
    preset: Annotated[str, Query(alias="range", max_length=12)] = "",
    first: Annotated[str, Query(alias="from", max_length=12)] = "",
    last: Annotated[str, Query(alias="to", max_length=12)] = "",
    part: Annotated[str, Query(max_length=12)] = "",
) -> HTMLResponse:
    venue = scoped_venue(session=session, principal=viewer.principal, venue_id=venue_id)
    if part == "access":
        access = _recent_access(session, viewer, venue, state=state, now=now)
        return _part(request, viewer, venue, part, access=access, opens=OPENS)
    if part == "kiosks":
        return _part(request, viewer, venue, part, kiosks=kiosks(session, venue.id))
    (row,) = venue_rows(
        session.connection(), [venue], now=now, quiet_hour=web_state(request).quiet_hour
    )
    zone = venue_zone(venue.timezone)
    days = pick_range(local_date(now, zone), preset=preset, first=first, last=last)
    sensors = sensor_names(session, venue.id)
    own = f"/venues/{quote(venue.id, safe='')}"
    # Every figure changes in place; the charts listen to traffic and occupancy (not to
    # "venue", every temperature sample: hourly charts need no news every few seconds).
    kinds = ("traffic", "occupancy", "alerts", "devices")
    return render(
        request,
        viewer,
        "venue.html",
        live="",
        live_figures=" ".join(f"{kind}:{venue.id}" for kind in kinds),
        figures_src=figures_url([venue.id]),
        live_gap_ms=2000,
        chart_topics=f"traffic:{venue.id} occupancy:{venue.id}"
        if days.last == local_date(now, zone)
        else "",
        part_src={name: f"{own}?part={name}" for name in PARTS},
        part_gap_ms={"access": ACCESS_PART_GAP_MS, "kiosks": KIOSK_PART_GAP_MS},
        venue=venue,
        row=row,
        days=days,
        presets=PRESETS,
        max_range_days=MAX_RANGE_DAYS,
        today=local_date(now, zone),
        history_since=history_since(session, venue.id),
        charts=chart_sources(venue, now=now, days=days),
        sensors=sensors,
        fridge_limit=fridge_limit(session, venue.id, sensors),
        access=_recent_access(session, viewer, venue, state=state, now=now),
        opens=OPENS,
        kiosks=kiosks(session, venue.id),
        amenities=AMENITIES,
        now=now,
    )
