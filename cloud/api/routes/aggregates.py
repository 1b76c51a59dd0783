"""``/api/v1/venues/{venue_id}/…``: occupancy, traffic, energy, temperature and rolled-up
telemetry of one venue, in pages, with UTC times and their local reading in the venue's zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from cloud.aggregates import occupancy as occ
from cloud.aggregates import queries, raw, rollups, views
from cloud.aggregates.models import OccupancyHourly, VenueSettings
from cloud.aggregates.timezones import local_iso, venue_zone
from cloud.aggregates.views import Resolution, Window
from cloud.api.auth_deps import CurrentPrincipal, ScopedVenue, require_roles
from cloud.api.deps import EngineDep, NowDep, Offset
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.api.routes.venues import VENUE_READERS
from cloud.api.timewindow import EXAMPLE, parse_instant
from cloud.auth.principal import Role
from cloud.core.time import as_utc
from cloud.models import Venue
from cloud.web.state import web_state
from protocol.metrics import METRICS

router = APIRouter(
    prefix="/venues",
    tags=["aggregates"],
    dependencies=[Depends(require_roles(*VENUE_READERS))],
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)

_TIME = f"ISO 8601 with a timezone, e.g. {EXAMPLE} (write '+' as %2B in a URL)."
Since = Annotated[str | None, Query(description=f"Start, inclusive. {_TIME}")]
Until = Annotated[str | None, Query(description=f"End, exclusive; default now. {_TIME}")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
# Hourly answers span at most a quarter, daily ones ten years: the pages stay small anyway.
_MAX_SPAN = {"hour": timedelta(days=93), "day": timedelta(days=3660), "raw": timedelta(days=31)}
_DEFAULT_SPAN = {"hour": timedelta(hours=24), "day": timedelta(days=30), "raw": timedelta(hours=24)}
_OCCUPANCY_WRITERS = (Role.ADMIN, Role.MANAGER)


class PagePublic(BaseModel):
    venue_id: str
    timezone: str
    since: str
    until: str
    count: int = Field(description="Rows matching, not only this page.")
    limit: int
    offset: int
    data: list[dict[str, Any]]
    rolled_up_at: str | None = Field(
        default=None,
        description="When the rollup job last ran (None: not yet). Traffic and temperature "
        "compute buckets with readings stored since from raw readings; energy and occupancy "
        "history show a bucket as of this run.",
    )


class OccupancyPublic(BaseModel):
    venue_id: str
    timezone: str
    count: int
    capacity: int | None
    over_capacity: bool
    visits_today: int = Field(description="Accepted door decisions since local midnight.")
    updated_at: str | None = Field(description="When ``count`` was computed (now, UTC).")
    local: str | None
    last_reconciled_at: str | None
    reconciled_by: str | None


class OccupancySet(BaseModel):
    count: int = Field(ge=0, le=100_000, description="People inside now, as counted.")


class VenueAggregateSettings(BaseModel):
    capacity: int | None = Field(default=None, ge=0, le=100_000)
    quiet_hour: int | None = Field(default=None, ge=0, le=23)
    open_hours_per_day: float | None = Field(default=None, ge=0, le=24)


def _quiet_hour(request: Request) -> int | None:
    """The district's quiet hour, read where the dashboard reads it: the API's count and the
    dashboard's must start from the same reset to agree."""
    return web_state(request).quiet_hour


QuietHour = Annotated[int | None, Depends(_quiet_hour)]


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        code="invalid_request",
        message=f"the request is invalid (query.{field}: {message})",
        details=[field_error(f"query.{field}", message)],
    )


def _window(since: str | None, until: str | None, *, now: datetime, kind: str) -> Window:
    end = parse_instant("until", until) if until is not None else as_utc(now)
    start = parse_instant("since", since) if since is not None else end - _DEFAULT_SPAN[kind]
    if end <= start:
        raise _invalid(
            "until", f"until ({end.isoformat()}) must be after since ({start.isoformat()})"
        )
    if end - start > _MAX_SPAN[kind]:
        raise _invalid(
            "since",
            f"the window is {(end - start) / timedelta(days=1):.1f} days, more than the "
            f"{_MAX_SPAN[kind].days} allowed at resolution {kind}; ask in several windows",
        )
    return Window(since=start, until=end)


def _page(
    venue: Venue,
    window: Window,
    result: queries.Page,
    *,
    limit: int,
    offset: int,
    data: list[dict[str, Any]],
    rolled_up_at: datetime | None = None,
) -> PagePublic:
    return PagePublic(
        venue_id=venue.id,
        timezone=venue.timezone,
        since=window.since.isoformat(),
        until=window.until.isoformat(),
        count=result.total,
        limit=limit,
        offset=offset,
        data=data,
        rolled_up_at=None if rolled_up_at is None else as_utc(rolled_up_at).isoformat(),
    )


@router.get("/{venue_id}/occupancy")
def read_occupancy(
    *, venue: ScopedVenue, engine: EngineDep, now: NowDep, quiet_hour: QuietHour
) -> OccupancyPublic:
    """People inside now; ``count`` never goes below 0 and is reset at the quiet hour.

    Computed on each request by the function the dashboard uses (rollups of closed hours,
    raw readings of open ones), so it includes a reading stored a moment ago.
    """
    zone = venue_zone(venue.timezone)
    with engine.connect() as conn:
        live = occ.live_occupancy(conn, venue.id, zone=zone, now=now, quiet_hour=quiet_hour)
        cap = conn.execute(
            select(occ.VENUE_SETTINGS.c.capacity).where(occ.VENUE_SETTINGS.c.venue_id == venue.id)
        ).scalar_one_or_none()
    reconciled = live.baseline.reconciled_at
    return OccupancyPublic(
        venue_id=venue.id,
        timezone=venue.timezone,
        count=live.count,
        capacity=cap,
        over_capacity=cap is not None and live.count > cap,
        visits_today=live.visits_today,
        updated_at=live.as_of.isoformat(),
        local=local_iso(live.as_of, zone),
        last_reconciled_at=None if reconciled is None else as_utc(reconciled).isoformat(),
        reconciled_by=live.baseline.reconciled_by,
    )


@router.put(
    "/{venue_id}/occupancy",
    dependencies=[Depends(require_roles(*_OCCUPANCY_WRITERS))],
)
def set_occupancy(
    *,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    quiet_hour: QuietHour,
    principal: CurrentPrincipal,
    body: OccupancySet,
) -> OccupancyPublic:
    """A head count by a manager: it becomes the baseline that later traffic adds to."""
    occ.set_occupancy(
        engine,
        venue.id,
        count=body.count,
        now=now,
        by=f"manager:{principal.subject}",
        quiet_hour=quiet_hour,
    )
    return read_occupancy(venue=venue, engine=engine, now=now, quiet_hour=quiet_hour)


@router.put(
    "/{venue_id}/occupancy/settings",
    dependencies=[Depends(require_roles(*_OCCUPANCY_WRITERS))],
)
def set_settings(
    *, venue: ScopedVenue, engine: EngineDep, now: NowDep, body: VenueAggregateSettings
) -> VenueAggregateSettings:
    """Capacity, quiet hour and daily open hours of the venue (fields left out are kept)."""
    occ.set_venue_settings(engine, venue.id, now=now, **body.model_dump(exclude_unset=True))
    with engine.connect() as conn:
        row = conn.execute(
            raw.table(VenueSettings).select().where(occ.VENUE_SETTINGS.c.venue_id == venue.id)
        ).one()
    return VenueAggregateSettings(
        capacity=row.capacity, quiet_hour=row.quiet_hour, open_hours_per_day=row.open_hours_per_day
    )


@router.get("/{venue_id}/occupancy/history")
def read_occupancy_history(
    *,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    since: Since = None,
    until: Until = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> PagePublic:
    """Occupancy at the end of each hour, as of the last rollup (``rolled_up_at``); the count
    now is ``GET …/occupancy``."""
    window, zone = _window(since, until, now=now, kind="hour"), venue_zone(venue.timezone)
    table = raw.table(OccupancyHourly)
    with engine.connect() as conn:
        result = queries.page(
            conn,
            table,
            where=[
                table.c.venue_id == venue.id,
                table.c.hour_utc >= window.since,
                table.c.hour_utc < window.until,
            ],
            order_by=[table.c.hour_utc],
            limit=limit,
            offset=offset,
        )
        at = rollups.rolled_up_at(conn)
    data = [views.times(r.hour_utc, zone) | {"count": r.count} for r in result.rows]
    return _page(venue, window, result, limit=limit, offset=offset, data=data, rolled_up_at=at)


@router.get("/{venue_id}/traffic")
def read_traffic(
    *,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    resolution: Annotated[Resolution, Query()] = "hour",
    since: Since = None,
    until: Until = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> PagePublic:
    """People in/out (beam counters), visits (accepted door decisions), unique members, per
    UTC hour or per local day (``date`` is the venue's calendar day)."""
    window = _window(since, until, now=now, kind=resolution)
    with engine.connect() as conn:
        result, data = views.traffic(conn, venue, window, resolution, limit=limit, offset=offset)
        at = rollups.rolled_up_at(conn)
    return _page(venue, window, result, limit=limit, offset=offset, data=data, rolled_up_at=at)


@router.get("/{venue_id}/energy")
def read_energy(
    *,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    since: Since = None,
    until: Until = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> PagePublic:
    """kWh per local day from the meters' cumulative registers (resets and rollovers counted),
    as of the last rollup (``rolled_up_at``): a day's kWh needs the register cap of the job's
    settings, which this process does not hold; ``/telemetry?metric=energy_kwh`` has the
    register readings stored since."""
    window = _window(since, until, now=now, kind="day")
    with engine.connect() as conn:
        result, data = views.energy(conn, venue, window, limit=limit, offset=offset)
        at = rollups.rolled_up_at(conn)
    return _page(venue, window, result, limit=limit, offset=offset, data=data, rolled_up_at=at)


@router.get("/{venue_id}/temperature")
def read_temperature(
    *,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    since: Since = None,
    until: Until = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> PagePublic:
    """min/avg/max per UTC hour and sensor (``sensor`` "" is a device's unnamed sensor)."""
    window = _window(since, until, now=now, kind="hour")
    with engine.connect() as conn:
        result, data = views.temperature(conn, venue, window, sensor, limit=limit, offset=offset)
        at = rollups.rolled_up_at(conn)
    return _page(venue, window, result, limit=limit, offset=offset, data=data, rolled_up_at=at)


@router.get("/{venue_id}/telemetry/rollup")
def read_telemetry_rollup(
    *,
    venue: ScopedVenue,
    engine: EngineDep,
    now: NowDep,
    metric: Annotated[str, Query(description="One of protocol.metrics.METRICS.")],
    resolution: Annotated[Literal["raw", "hour", "day"], Query()] = "hour",
    since: Since = None,
    until: Until = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> PagePublic:
    """One metric at ``raw``, ``hour`` or ``day`` resolution. Counters, temperature and
    energy come from their rollups (kept past the raw retention); other metrics are
    bucketed from raw readings (min/avg/max/sum per device and sensor)."""
    if metric not in METRICS:
        raise _invalid(
            "metric", f"unknown metric {metric[:40]!r}; use one of: {', '.join(sorted(METRICS))}"
        )
    window = _window(since, until, now=now, kind=resolution)
    zone = venue_zone(venue.timezone)
    with engine.connect() as conn:
        if resolution == "raw":
            result, data = views.raw_page(
                conn, venue, window, metric, sensor, limit=limit, offset=offset
            )
        elif metric in ("people_in", "people_out"):
            result, data = views.traffic(
                conn, venue, window, resolution, limit=limit, offset=offset
            )
            data = [
                {k: v for k, v in d.items() if k in ("start", "local", "date")} | {"sum": d[metric]}
                for d in data
            ]
        elif metric == "energy_kwh":
            if resolution == "hour":
                raise _invalid(
                    "resolution",
                    "energy_kwh is rolled up per local day; ask for "
                    "resolution=day, or resolution=raw for the register values",
                )
            result, data = views.energy(conn, venue, window, limit=limit, offset=offset)
            data = [
                {k: v for k, v in d.items() if k in ("start", "local", "date")} | {"sum": d["kwh"]}
                for d in data
            ]
        elif metric == "temperature_c" and resolution == "hour":
            result, data = views.temperature(
                conn, venue, window, sensor, limit=limit, offset=offset
            )
        else:
            if window.until - window.since > _MAX_SPAN["raw"]:
                raise _invalid(
                    "since",
                    f"{metric} is bucketed from raw readings; ask for at "
                    f"most {_MAX_SPAN['raw'].days} days at a time",
                )
            buckets = queries.raw_buckets(
                conn,
                venue_id=venue.id,
                metric=metric,
                sensor=sensor,
                since=window.since,
                until=window.until,
                by_day=zone if resolution == "day" else None,
            )
            result, data = views.bucket_page(buckets, zone, limit=limit, offset=offset)
        at = rollups.rolled_up_at(conn)
    return _page(venue, window, result, limit=limit, offset=offset, data=data, rolled_up_at=at)
