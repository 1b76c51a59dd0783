"""The reports page: pick a venue or district, a period and a day; read the figures, download
them as XLSX or PDF; manage one's own e-mailed report subscriptions.

Downloads are links to ``/api/v1/reports/…`` and subscriptions are made and stopped through
``/api/v1/reports/subscriptions`` with the sign-in cookie: the page adds no endpoint of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.aggregates.timezones import DEFAULT_ZONE, local_date, venue_zone
from cloud.api.deps import EngineDep, NowDep, SessionDep
from cloud.auth import store
from cloud.auth.principal import Principal
from cloud.core.lang import venue_name
from cloud.reports import files
from cloud.reports.figures import Report
from cloud.reports.period import PERIOD_KINDS, PeriodError, parse_period
from cloud.reports.subscriptions import SubscriptionPublic, subscriptions_of
from cloud.reports.tables import FIGURES, figure_cells, show
from cloud.reports.venues import ReportVenue, districts, load_venues
from cloud.reports.words import WORDS, title
from cloud.web.i18n import Lang, Messages
from cloud.web.render import render
from cloud.web.session import Staff

router = APIRouter(include_in_schema=False)

PAGE_TEXT: Final[Messages] = {
    "reports.title": ("报表", "Reports"),
    "reports.target": ("阵地或街道", "Venue or district"),
    "reports.venues": ("阵地", "Venues"),
    "reports.districts": ("街道/区", "Districts"),
    "reports.period": ("周期", "Period"),
    "reports.period.day": ("日", "Day"),
    "reports.period.week": ("周（周一至周日）", "Week (Monday to Sunday)"),
    "reports.period.month": ("月", "Month"),
    "reports.date": ("日期", "Date"),
    "reports.show": ("查看", "Show"),
    "reports.download_xlsx": ("下载 Excel", "Download Excel"),
    "reports.download_pdf": ("下载 PDF", "Download PDF"),
    "reports.none_in_scope": ("您名下没有阵地，无法生成报表", "You have no venues to report on"),
    "reports.period_of": ("{label}，按各阵地当地时间", "{label}, on each venue's own calendar"),
    "reports.subscriptions": ("邮件订阅", "E-mail subscriptions"),
    "reports.subscriptions_hint": (
        "每个周期结束后的次日 6:00 起发送一次",
        "Sent once, from 06:00 the morning after each period ends",
    ),
    "reports.no_subscriptions": ("还没有订阅", "No subscriptions yet"),
    "reports.email": ("邮箱", "E-mail"),
    "reports.format": ("格式", "Format"),
    "reports.last_sent": ("最近发送", "Last sent"),
    "reports.subscribe": ("订阅此报表", "Subscribe to this report"),
    "reports.subscribed": ("已订阅", "Subscribed"),
    "reports.unsubscribe": ("取消订阅", "Unsubscribe"),
    "reports.unsubscribed": ("已取消", "Unsubscribed"),
    "reports.exports": ("按日期导出", "Export by dates"),
    "reports.export.title": ("导出所选日期", "Export these days"),
    "reports.export.alerts_title": ("导出告警", "Export alerts"),
    "reports.export.from": ("从", "From"),
    "reports.export.to": ("到", "To"),
    "reports.export.traffic_hour": ("每小时客流", "Traffic per hour"),
    "reports.export.traffic_day": ("每日客流", "Traffic per day"),
    "reports.export.temperature": ("每小时温度", "Temperatures per hour"),
    "reports.export.access_events": ("门禁记录", "Door decisions"),
    "reports.error.bad_date": ("日期格式不对，请选择一个日期", "That is not a date; pick one"),
    "reports.error.future_period": (
        "这个周期还没开始，请选择今天或更早的日期",
        "That period has not begun; pick today or earlier",
    ),
    "reports.error.unknown_period": ("请选择日、周或月", "Pick day, week or month"),
    "reports.error.subscription_exists": (
        "您已在这个邮箱订阅了这份报表",
        "You already get this report at this address",
    ),
    "reports.error.report_target_not_found": (
        "这个阵地或街道不在您的管理范围内",
        "That venue or district is not one of yours",
    ),
    "reports.error.too_many_subscriptions": (
        "订阅太多了，请先取消一些",
        "Too many subscriptions; remove some first",
    ),
    "reports.error.invalid_request": ("请填写有效的邮箱地址", "Enter a valid e-mail address"),
}
TEXT: Final[Messages] = {**PAGE_TEXT, **WORDS}
ERROR_CODES: Final = (
    "subscription_exists",
    "report_target_not_found",
    "too_many_subscriptions",
    "invalid_request",
)


def _split(target: str) -> tuple[str, str]:
    scope, _, name = target.partition(":")
    return ("district", name) if scope == "district" else ("venue", name)


def _links(report: Report, *, lang: str) -> dict[str, str]:
    path = "venue" if report.scope == "venue" else "district"
    base = f"/api/v1/reports/{path}/{quote(report.key, safe='')}"
    query = {"period": report.period.kind, "date": report.period.first.isoformat(), "lang": lang}
    return {fmt: f"{base}?{urlencode({**query, 'format': fmt})}" for fmt in ("xlsx", "pdf")}


@dataclass(frozen=True, slots=True)
class _Choice:
    """What the form asked for, and the report it gives (or why none)."""

    kind: str  # venue | district
    key: str  # the venue id or the district
    today: date
    day: str
    report: Report | None
    problem: str  # a reports.error.* code, or ""


def _choose(
    engine: Engine, venues: list[ReportVenue], *, target: str, period: str, day: str,
    scope: frozenset[str] | None, now: datetime,
) -> _Choice:  # fmt: skip
    kind, key = _split(target)
    # A district's venues share a zone in practice: "today" is its first venue's.
    zone = next((v.timezone for v in venues if key in (v.id, v.district)), DEFAULT_ZONE)
    today = local_date(now, venue_zone(zone))
    chosen_day = day or (today - timedelta(days=1)).isoformat()
    try:
        chosen = parse_period(period, chosen_day, today=today)
    except PeriodError as exc:
        return _Choice(kind, key, today, chosen_day, None, exc.code)
    make = files.venue_report if kind == "venue" else files.district_report
    with engine.connect() as conn:
        report = make(conn, key, chosen, scope=scope, now=now) if key else None
    return _Choice(kind, key, today, chosen_day, report, "")


def _shown(report: Report | None, lang: Lang) -> dict[str, Any]:
    """The report as the template lays it out: heading, rows and download links."""
    if report is None:
        return {"heading": "", "rows": [], "links": {}}
    label = report.period.label(lang)
    return {
        "heading": title(lang, report.display_name(lang), report.period.kind, label),
        "rows": _rows(report, lang),
        "links": _links(report, lang=lang),
    }


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    *,
    request: Request,
    viewer: Staff,
    session: SessionDep,
    engine: EngineDep,
    now: NowDep,
    target: Annotated[str, Query(max_length=80)] = "",
    period: Annotated[str, Query(max_length=8)] = "day",
    day: Annotated[str, Query(alias="date", max_length=20)] = "",
) -> HTMLResponse:
    scope = viewer.principal.venue_filter()
    with engine.connect() as conn:
        venues = load_venues(conn, scope=scope)
        names = districts(conn, scope=scope)
    target = target or (f"venue:{venues[0].id}" if venues else "")
    choice = _choose(engine, venues, target=target, period=period, day=day, scope=scope, now=now)
    return render(
        request,
        viewer,
        "reports.html",
        venues=venues,
        districts=names,
        target=target,
        scope_kind=choice.kind,
        target_key=choice.key,
        period=period if period in PERIOD_KINDS else "day",
        periods=PERIOD_KINDS,
        day=choice.day,
        today=choice.today.isoformat(),
        report=choice.report,
        columns=FIGURES,
        show=show,
        problem=choice.problem,
        subscriptions=_subscriptions(session, viewer.principal),
        error_codes=ERROR_CODES,
        **_shown(choice.report, viewer.lang),
    )


def _rows(report: Report | None, lang: Lang) -> list[tuple[str, list[object]]]:
    """(venue name, figure cells) per venue, then the total (named "") for a district."""
    if report is None:
        return []
    rows: list[tuple[str, list[object]]] = [
        (venue_name(v.venue, lang), list(figure_cells(v.total))) for v in report.venues
    ]
    if report.scope == "district":
        rows.append(("", list(figure_cells(report.total))))
    return rows


def _subscriptions(session: Session, principal: Principal) -> list[SubscriptionPublic]:
    user = store.get_user_by_username(session=session, username=principal.subject)
    return [] if user is None or user.id is None else subscriptions_of(session, user.id)
