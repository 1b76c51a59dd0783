"""``/api/v1/reports/exports/…``: door decisions, alerts, traffic and temperatures over a
range of local days, as CSV or XLSX."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlmodel import col, select

from cloud.aggregates.timezones import DEFAULT_ZONE, local_date, venue_zone
from cloud.aggregates.views import Resolution
from cloud.api.auth_deps import (
    CurrentPrincipal,
    ScopedVenue,
    require_device_roles,
    require_roles,
    scoped_venue,
)
from cloud.api.deps import EngineDep, NowDep, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.api.routes.report_common import LangQuery, lang_of, refused
from cloud.api.routes.venues import VENUE_READERS
from cloud.auth.principal import Principal
from cloud.models import Venue
from cloud.reports import export_rows
from cloud.reports.exports import EXPORT_FORMATS, Sheet, write
from cloud.reports.files import XLSX_TYPE, content_disposition
from cloud.reports.period import PeriodError
from cloud.reports.words import Lang

router = APIRouter(
    prefix="/reports/exports",
    # A box's own token reads nothing here, whatever its venue: people and integrations do.
    dependencies=[
        Depends(require_roles(*VENUE_READERS)),
        Depends(require_device_roles(doing="export a venue's records")),
    ],
    responses={400: {"model": ErrorResponse}, 404: {"model": ErrorResponse}},
)

# Days one export may cover: hourly rollups a quarter, as the aggregates API allows (and
# the venue page's range picker); door decisions too, under MAX_ROWS; daily rows and
# alerts a year and more.
MAX_DAYS: Final = {"access": 93, "hour": 93, "day": 3660, "alerts": 366}
From = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD, first local day.")]
To = Annotated[str | None, Query(alias="to", description="YYYY-MM-DD, last local day (kept).")]
Fmt = Annotated[str, Query(alias="format", description="csv or xlsx.")]
VenueQuery = Annotated[
    str | None, Query(max_length=32, description="One venue; default: every venue you see.")
]


def _range(
    first: str | None, last: str | None, *, zone: str | None, now: NowDep, kind: str
) -> export_rows.DateRange:
    try:
        return export_rows.parse_range(
            first, last, today=local_date(now, venue_zone(zone)), max_days=MAX_DAYS[kind]
        )
    except PeriodError as exc:
        raise refused(exc, "query.from") from None


def _fmt(fmt: str) -> str:
    if fmt not in EXPORT_FORMATS:
        raise ApiError(
            400,
            code="unknown_format",
            message=f"format {fmt[:20]!r} is not csv or xlsx",
            details=[field_error("query.format", "use csv or xlsx")],
        )
    return fmt


def _file(sheet: Sheet, fmt: str, lang: Lang, name: str) -> Response:
    content = write(sheet, "csv" if fmt == "csv" else "xlsx", lang)
    media = "text/csv; charset=utf-8" if fmt == "csv" else XLSX_TYPE
    return Response(
        content,
        media_type=media,
        headers={
            "Content-Disposition": content_disposition(f"{name}.{fmt}"),
            "Cache-Control": "no-store",
        },
    )


def _venues(session: SessionDep, principal: Principal, venue_id: str | None) -> dict[str, Venue]:
    """The one venue asked for (404 outside scope), else every venue in scope."""
    if venue_id:
        venue = scoped_venue(session=session, principal=principal, venue_id=venue_id)
        return {venue.id: venue}
    query = select(Venue).order_by(col(Venue.id))
    scope = principal.venue_filter()
    if scope is not None:
        query = query.where(col(Venue.id).in_(scope))
    return {v.id: v for v in session.exec(query)}


@router.get("/access-events")
def export_access_events(
    *,
    request: Request,
    session: SessionDep,
    state: StateDep,
    now: NowDep,
    principal: CurrentPrincipal,
    venue: VenueQuery = None,
    first: From = None,
    last: To = None,
    fmt: Fmt = "csv",
    lang: LangQuery = None,
) -> Response:
    """Door decisions, newest first; member ids are pseudonyms for all but admins."""
    chosen_fmt, chosen_lang = _fmt(fmt), lang_of(request, lang)
    venue = venue or None  # a page's "all venues" choice sends venue=
    venues = _venues(session, principal, venue)
    zone = venues[venue].timezone if venue is not None else DEFAULT_ZONE
    days = _range(first, last, zone=zone, now=now, kind="access")
    try:
        sheet = export_rows.access_event_rows(
            session,
            principal,
            venues=venues,
            venue_id=venue,
            window=days.window(venue_zone(zone)),
            pseudonym_key=state.auth.pseudonym_key,
            lang=chosen_lang,
        )
    except PeriodError as exc:
        raise refused(exc, "query.from") from None
    return _file(sheet, chosen_fmt, chosen_lang, f"access-events-{venue or 'all'}-{days.slug}")


@router.get("/alerts")
def export_alerts(
    *,
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    now: NowDep,
    principal: CurrentPrincipal,
    venue: VenueQuery = None,
    first: From = None,
    last: To = None,
    fmt: Fmt = "csv",
    lang: LangQuery = None,
) -> Response:
    """Alerts opened in the range, with when and by whom each was acknowledged and resolved."""
    chosen_fmt, chosen_lang = _fmt(fmt), lang_of(request, lang)
    venue = venue or None  # a page's "all venues" choice sends venue=
    venues = _venues(session, principal, venue)
    zone = venues[venue].timezone if venue is not None else DEFAULT_ZONE
    days = _range(first, last, zone=zone, now=now, kind="alerts")
    with engine.connect() as conn:
        try:
            sheet = export_rows.alert_rows(
                conn, venues=venues, window=days.window(venue_zone(zone)), lang=chosen_lang
            )
        except PeriodError as exc:
            raise refused(exc, "query.from") from None
    return _file(sheet, chosen_fmt, chosen_lang, f"alerts-{venue or 'all'}-{days.slug}")


@router.get("/venues/{venue_id}/traffic")
def export_traffic(
    *,
    request: Request,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    resolution: Annotated[Resolution, Query()] = "hour",
    first: From = None,
    last: To = None,
    fmt: Fmt = "csv",
    lang: LangQuery = None,
) -> Response:
    """People in and out (beam), visits and unique members, per hour or per local day."""
    chosen_fmt, chosen_lang = _fmt(fmt), lang_of(request, lang)
    days = _range(first, last, zone=venue.timezone, now=now, kind=resolution)
    with engine.connect() as conn:
        sheet = export_rows.traffic_rows(
            conn, venue, days.window(venue_zone(venue.timezone)), resolution
        )
    return _file(sheet, chosen_fmt, chosen_lang, f"traffic-{resolution}-{venue.id}-{days.slug}")


@router.get("/venues/{venue_id}/temperature")
def export_temperature(
    *,
    request: Request,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    first: From = None,
    last: To = None,
    fmt: Fmt = "csv",
    lang: LangQuery = None,
) -> Response:
    """min/avg/max per hour and probe."""
    chosen_fmt, chosen_lang = _fmt(fmt), lang_of(request, lang)
    days = _range(first, last, zone=venue.timezone, now=now, kind="hour")
    with engine.connect() as conn:
        sheet = export_rows.temperature_rows(conn, venue, days.window(venue_zone(venue.timezone)))
    return _file(sheet, chosen_fmt, chosen_lang, f"temperature-{venue.id}-{days.slug}")
