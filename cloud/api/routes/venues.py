"""``/api/v1/venues``: the venues a caller may see, one page at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import Session, col, func, select

from cloud.api.deps import SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.api.schemas import VenuesPublic
from cloud.models import Venue, VenuePublic

router = APIRouter(prefix="/venues", tags=["venues"])


def get_venue_or_404(session: Session, *, venue_id: str) -> Venue:
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise ApiError(
            404,
            code="venue_not_found",
            message=f"there is no venue {venue_id[:40]!r}; GET /api/v1/venues lists the venue ids",
        )
    return venue


@router.get("")
def list_venues(
    *,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000, description="Venues per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Venues to skip.")] = 0,
) -> VenuesPublic:
    count = session.exec(select(func.count()).select_from(Venue)).one()
    venues = session.exec(select(Venue).order_by(col(Venue.id)).offset(offset).limit(limit))
    return VenuesPublic(data=[VenuePublic.model_validate(v) for v in venues], count=count)


@router.get("/{venue_id}", responses={404: {"model": ErrorResponse}})
def read_venue(*, session: SessionDep, venue_id: str) -> VenuePublic:
    return VenuePublic.model_validate(get_venue_or_404(session, venue_id=venue_id))
