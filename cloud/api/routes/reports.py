"""The reports API routes (under /api/v1): reports, exports and report subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from cloud.aggregates.timezones import DEFAULT_ZONE, local_date, venue_zone
from cloud.api.auth_deps import (
    CurrentPrincipal,
    require_device_roles,
    require_roles,
    venue_not_found,
)
from cloud.api.deps import EngineDep, NowDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.api.routes import report_exports, report_subscriptions
from cloud.api.routes.report_common import LangQuery, lang_of, refused
from cloud.api.routes.venues import VENUE_READERS
from cloud.reports import files
from cloud.reports.figures import Report
from cloud.reports.period import Period, PeriodError, parse_period
from cloud.reports.venues import load_venues
from cloud.reports.words import Lang

# Mounted under /api/v1: the reports, their exports and the e-mail subscriptions.
router = APIRouter(tags=["reports"])
reports = APIRouter(
    prefix="/reports",
    # A box's own token reads nothing here, whatever its venue: people and integrations do.
    dependencies=[
        Depends(require_roles(*VENUE_READERS)),
        Depends(require_device_roles(doing="read reports")),
    ],
    responses={
        400: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
_FILE_CONTENT: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"application/pdf": {}, files.XLSX_TYPE: {}}}
}

PeriodQuery = Annotated[str, Query(description="day, week (Monday to Sunday) or month.")]
DateQuery = Annotated[
    str | None,
    Query(
        alias="date",
        description="YYYY-MM-DD, a day inside the period, on the venue's calendar; "
        "default: the last whole period.",
    ),
]
FormatQuery = Annotated[str, Query(alias="format", description="xlsx, pdf or json.")]


def _format(fmt: str) -> str:
    if fmt not in files.FILE_FORMATS:
        raise ApiError(
            400,
            code="unknown_format",
            message=f"format {fmt[:20]!r} is not one of: {', '.join(files.FILE_FORMATS)}",
            details=[field_error("query.format", "use xlsx, pdf or json")],
        )
    return fmt


def period_for(kind: str, day: str | None, *, zone_name: str | None, now: datetime) -> Period:
    try:
        return parse_period(kind, day, today=local_date(now, venue_zone(zone_name)))
    except PeriodError as exc:
        field = "query.period" if exc.code == "unknown_period" else "query.date"
        raise refused(exc, field) from None


def answer(report: Report, fmt: str, lang: Lang) -> Response:
    if fmt == "json":
        return JSONResponse(files.report_json(report))
    made = files.render_file(report, "pdf" if fmt == "pdf" else "xlsx", lang)
    return Response(
        made.content,
        media_type=made.media_type,
        headers={
            "Content-Disposition": files.content_disposition(made.filename),
            "Cache-Control": "no-store",
        },
    )


def _zone_of(engine: EngineDep, *, venue_id: str | None, district: str | None) -> str:
    """The zone whose calendar says which period "today" is in (a district's first venue)."""
    with engine.connect() as conn:
        found = load_venues(conn, scope=None, venue_id=venue_id, district=district)
    return found[0].timezone if found else DEFAULT_ZONE


@reports.get("/venue/{venue_id}", responses=_FILE_CONTENT)
def venue_report(
    *,
    request: Request,
    engine: EngineDep,
    now: NowDep,
    principal: CurrentPrincipal,
    venue_id: str,
    period: PeriodQuery = "day",
    day: DateQuery = None,
    fmt: FormatQuery = "json",
    lang: LangQuery = None,
) -> Response:
    """One venue's report for a day, a Monday-to-Sunday week or a month of its own calendar."""
    if not principal.sees_venue(venue_id):
        raise venue_not_found(venue_id)
    chosen_fmt, chosen_lang = _format(fmt), lang_of(request, lang)
    zone = _zone_of(engine, venue_id=venue_id, district=None)
    chosen = period_for(period, day, zone_name=zone, now=now)
    with engine.connect() as conn:
        report = files.venue_report(conn, venue_id, chosen, scope=principal.venue_filter(), now=now)
    if report is None:
        raise venue_not_found(venue_id)
    return answer(report, chosen_fmt, chosen_lang)


@reports.get("/district/{district}", responses=_FILE_CONTENT)
def district_report(
    *,
    request: Request,
    engine: EngineDep,
    now: NowDep,
    principal: CurrentPrincipal,
    district: str,
    period: PeriodQuery = "day",
    day: DateQuery = None,
    fmt: FormatQuery = "json",
    lang: LangQuery = None,
) -> Response:
    """Each venue of the district the caller may see, a row each, and their totals."""
    chosen_fmt, chosen_lang = _format(fmt), lang_of(request, lang)
    zone = _zone_of(engine, venue_id=None, district=district)
    chosen = period_for(period, day, zone_name=zone, now=now)
    with engine.connect() as conn:
        report = files.district_report(
            conn, district, chosen, scope=principal.venue_filter(), now=now
        )
    if report is None:
        raise ApiError(
            404,
            code="district_not_found",
            message=f"no venue of district {district[:60]!r} is yours to see; "
            "GET /api/v1/venues lists your venues and their districts",
        )
    return answer(report, chosen_fmt, chosen_lang)


router.include_router(report_exports.router)
router.include_router(report_subscriptions.router)
router.include_router(reports)
