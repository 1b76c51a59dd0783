"""``/api/v1/venues/{venue_id}/telemetry``: one metric's readings of a venue over a window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, col, select

from cloud.api.auth_deps import ScopedVenue, require_roles
from cloud.api.deps import NowDep, SessionDep
from cloud.api.errors import ApiError, ErrorResponse, field_error
from cloud.api.routes.venues import VENUE_READERS
from cloud.api.schemas import ReadingPublic, TelemetryPublic
from cloud.api.timewindow import EXAMPLE, TimeWindow, resolve_window
from cloud.models import Reading
from protocol.metrics import METRICS, Metric

router = APIRouter(
    prefix="/venues",
    tags=["telemetry"],
    dependencies=[Depends(require_roles(*VENUE_READERS))],
)

_TIME_HELP = f"ISO 8601 with a timezone, e.g. {EXAMPLE} (write '+' as %2B in a URL)."


def _known_metric(name: str) -> Metric:
    spec = METRICS.get(name)
    if spec is None:
        known = sorted(METRICS)
        message = f"unknown metric {name[:40]!r}; use one of: {', '.join(known)}"
        raise ApiError(
            422,
            code="invalid_request",
            message=f"the request is invalid (query.metric: {message})",
            details=[field_error("query.metric", message, allowed=known)],
        )
    return spec


def _readings(
    session: Session,
    *,
    venue_id: str,
    metric: str,
    sensor: str | None,
    window: TimeWindow,
    limit: int,
) -> Sequence[Reading]:
    query = select(Reading).where(
        Reading.venue_id == venue_id,
        Reading.metric == metric,
        col(Reading.ts) >= window.since,
        col(Reading.ts) < window.until,
    )
    if sensor is not None:
        query = query.where(Reading.sensor == sensor)
    # device_id and seq break ties so pages are stable when readings share a timestamp.
    query = query.order_by(col(Reading.ts), col(Reading.device_id), col(Reading.seq))
    return session.exec(query.limit(limit)).all()


@router.get(
    "/{venue_id}/telemetry",
    responses={404: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def read_telemetry(
    *,
    session: SessionDep,
    now: NowDep,
    venue: ScopedVenue,
    metric: Annotated[str, Query(description="One of protocol.metrics.METRICS.")],
    since: Annotated[str | None, Query(description=f"Start, inclusive. {_TIME_HELP}")] = None,
    until: Annotated[str | None, Query(description=f"End, exclusive. {_TIME_HELP}")] = None,
    sensor: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> TelemetryPublic:
    """Readings ordered by time; the window defaults to the last 24 h and spans at most 31 days."""
    spec = _known_metric(metric)
    window = resolve_window(since=since, until=until, now=now)
    # One row more than asked tells whether the answer was cut short.
    rows = _readings(
        session, venue_id=venue.id, metric=metric, sensor=sensor, window=window, limit=limit + 1
    )
    data = [ReadingPublic.model_validate(row) for row in rows[:limit]]
    return TelemetryPublic(
        venue_id=venue.id,
        timezone=venue.timezone,
        metric=spec.name,
        unit=spec.unit,
        since=window.since,
        until=window.until,
        data=data,
        count=len(data),
        truncated=len(rows) > limit,
    )
