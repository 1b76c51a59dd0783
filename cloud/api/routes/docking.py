"""``/api/v1/docking/daily``: per-venue daily stats for the provincial union platform (pull).

The same entries are pushed daily to the platform's webhook (cloud/aggregates/docking.py);
docs/docking.md documents the format.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from cloud.aggregates.docking import SCHEMA, count_venues, daily_stats
from cloud.aggregates.timezones import DEFAULT_ZONE, local_date
from cloud.api.auth_deps import CurrentPrincipal, require_roles
from cloud.api.deps import EngineDep, NowDep, Offset
from cloud.api.errors import ErrorResponse
from cloud.api.routes.venues import VENUE_READERS
from cloud.core.time import as_utc

router = APIRouter(
    prefix="/docking",
    tags=["docking"],
    dependencies=[Depends(require_roles(*VENUE_READERS))],
    responses={422: {"model": ErrorResponse}},
)


class VenueDayPublic(BaseModel):
    venue: str
    name: str
    timezone: str
    date: str
    visits: int
    unique_members: int
    people_in: int
    open_hours: float
    energy_kwh: float | None


class DockingDailyPublic(BaseModel):
    schema_: str = Field(alias="schema", serialization_alias="schema")
    date: str
    generated_at: str
    count: int = Field(description="Venues in scope, not only this page.")
    limit: int
    offset: int
    venues: list[VenueDayPublic]


@router.get("/daily", response_model_by_alias=True)
def read_daily(
    *,
    engine: EngineDep,
    now: NowDep,
    principal: CurrentPrincipal,
    day: Annotated[
        date | None,
        Query(
            alias="date",
            description="YYYY-MM-DD, each venue's own calendar day; "
            "default yesterday in China time.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    offset: Offset = 0,
) -> DockingDailyPublic:
    """visits, unique_members, open_hours and energy_kwh of each venue the caller may see."""
    chosen = day or local_date(now, ZoneInfo(DEFAULT_ZONE)) - timedelta(days=1)
    scope = principal.venue_filter()
    with engine.connect() as conn:
        total = count_venues(conn, venue_ids=scope)
        entries = daily_stats(conn, chosen, venue_ids=scope, limit=limit, offset=offset)
    return DockingDailyPublic(
        schema=SCHEMA,
        date=chosen.isoformat(),
        generated_at=as_utc(now).isoformat(),
        count=total,
        limit=limit,
        offset=offset,
        venues=[VenueDayPublic.model_validate(e, from_attributes=True) for e in entries],
    )
